//! Who may read analytics (docs/SECURITY.md), with `AUTH=keys`.
//!
//! Every `/api/…` request needs a read key (`rk_`) as `Authorization: Bearer` (so does
//! `/metrics`, although it is served on `ANALYTICS_METRICS_ADDR`, not here); only
//! `/api/v1/live` also takes it as `?key=`, because the browser's `EventSource` cannot set
//! headers. Health, readiness, the API description, the
//! dashboard's files and CORS preflight need none. A shop-scoped key answers for its shop only:
//! without `shop_id` a request means its shop, another `shop_id` is `403`. One key holds at
//! most [`LIVE_STREAMS_PER_KEY`] live streams.
//!
//! `GET /api/v1/key` tells the dashboard whether keys are needed and what the key it holds may
//! read: `{"auth":"off"}`; `{"auth":"keys","key":null}` without a key; `{"auth":"keys",
//! "key":{"id","kind","shop_id","name"}}` with a good one; `401` with a bad one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use events_core::keys::KeyKind;
use events_core::keys::access::{
    AuthMode, Authenticated, Gate, Refusal, rebuild_query, warn_if_off,
};
use events_core::keys::limits::PerKeyCap;
use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use crate::Config;

/// The most `/api/v1/live` streams one key may hold open at once.
pub const LIVE_STREAMS_PER_KEY: usize = 20;
/// What a client refused a live stream is told to wait.
const LIVE_RETRY_AFTER: Duration = Duration::from_secs(10);
const LIVE_PATH: &str = "/api/v1/live";
/// What the dashboard asks before anything else.
pub const KEY_PATH: &str = "/api/v1/key";

/// The key check of analytics: the gate and the per-key live-stream cap.
pub struct ReadGate {
    pub gate: Arc<Gate>,
    live: PerKeyCap,
}

/// The answer of `GET /api/v1/key`: whether keys are needed, and what the key sent may read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "auth", rename_all = "lowercase")]
pub enum KeyAnswer {
    /// `AUTH=off`: no key is needed.
    Off,
    /// `AUTH=keys`: `key` is `null` when none was sent.
    Keys {
        #[schema(required = true)]
        key: Option<KeyScope>,
    },
}

/// What a good read key may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyScope {
    pub id: String,
    pub kind: KeyKind,
    /// `null` for an all-shops key.
    #[schema(required = true)]
    pub shop_id: Option<String>,
    #[schema(required = true)]
    pub name: Option<String>,
}

/// `GET /api/v1/key` with `AUTH=off` (with keys, [`describe_key`] answers before the route).
#[utoipa::path(get, path = "/api/v1/key", operation_id = "key", tag = "keys",
    security((), ("read_key" = [])),
    responses(
        (status = 200, description = "Whether keys are needed and the scope of the key sent", body = KeyAnswer),
        (status = 401, description = "An unknown or revoked key", body = events_core::http::ErrorBody),
    ))]
pub async fn describe_no_auth() -> Json<KeyAnswer> {
    Json(KeyAnswer::Off)
}

/// Wraps the router in the key check of `config`; the gate, when there is one, is started by
/// [`start`].
pub fn protect(router: Router, config: &Config) -> anyhow::Result<(Router, Option<Arc<Gate>>)> {
    if config.auth.auth == AuthMode::Off {
        return Ok((router, None));
    }
    // A dashboard refresh is about ten requests at once: bursts of twice the rate.
    let rate = config.rate_limit_read;
    let burst = std::num::NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
    let gate = Gate::new(&config.redis, &config.auth, config.rate_limit_read, burst)
        .context("REDIS_URL")?;
    let read_gate = Arc::new(ReadGate {
        gate: Arc::clone(&gate),
        live: PerKeyCap::new(LIVE_STREAMS_PER_KEY),
    });
    let app = router.layer(middleware::from_fn_with_state(read_gate, require_read_key));
    Ok((app, Some(gate)))
}

/// Logs the `AUTH=off` warning and starts the gate's refresh on `tasks`, until `stop`.
pub async fn start(
    gate: Option<&Arc<Gate>>,
    mode: AuthMode,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    warn_if_off(mode, "analytics");
    if let Some(gate) = gate {
        gate.start(stop, tasks).await;
    }
}

/// Paths anyone may ask: everything outside the API (the dashboard's files) but `/metrics`
/// (not served on this port, still never open), health, readiness, the API description, and
/// preflight.
fn is_open(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::OPTIONS
        || !(path.starts_with("/api/") || path == "/metrics")
        || matches!(
            path,
            "/api/health" | "/api/ready" | "/api/openapi.json" | "/api/docs"
        )
        || path.starts_with(crate::openapi::DOCS_ASSETS)
}

/// `GET /api/v1/key` with `AUTH=keys`: the presented key's scope, or `null` without one.
fn describe_key(read_gate: &ReadGate, request: &Request) -> Response {
    match read_gate.gate.check(request, |_| false) {
        Ok(key) => {
            let record = &key.record;
            Json(KeyAnswer::Keys {
                key: Some(KeyScope {
                    id: record.id.clone(),
                    kind: record.kind,
                    shop_id: record.shop_id.clone(),
                    name: record.name.clone(),
                }),
            })
            .into_response()
        }
        Err(Refusal::Unauthorized {
            key_sent: false, ..
        }) => Json(KeyAnswer::Keys { key: None }).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn require_read_key(
    State(read_gate): State<Arc<ReadGate>>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == KEY_PATH && request.method() == Method::GET {
        return describe_key(&read_gate, &request);
    }
    if is_open(&request) {
        return next.run(request).await;
    }
    let is_live = request.uri().path() == LIVE_PATH;
    let key = match read_gate
        .gate
        .check(&request, |kind| kind == KeyKind::Read && is_live)
    {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let record = &key.record;
    if record.kind != KeyKind::Read {
        return Refusal::Forbidden(format!(
            "a {} key cannot read analytics: use a read key (rk_)",
            record.kind.as_str()
        ))
        .into_response();
    }
    // The query without the key, and with the key's shop when it has one.
    let mut pairs: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(name, _)| name != "key")
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(shop) = record.shop_id.as_deref() {
        if let Some((_, other)) = pairs.iter().find(|(n, v)| n == "shop_id" && v != shop) {
            return Refusal::Forbidden(format!("this key reads shop `{shop}` only, not `{other}`"))
                .into_response();
        }
        if !pairs.iter().any(|(n, _)| n == "shop_id") {
            pairs.push(("shop_id".into(), shop.to_owned()));
        }
    }
    *request.uri_mut() = rebuild_query(request.uri(), &pairs);
    let slot = if is_live {
        match read_gate.live.try_take(&record.id) {
            Some(slot) => Some(slot),
            None => {
                return Refusal::TooMany {
                    message: format!(
                        "this key has {LIVE_STREAMS_PER_KEY} live streams open already; close one or retry later"
                    ),
                    retry_after: LIVE_RETRY_AFTER,
                }
                .into_response();
            }
        }
    } else {
        None
    };
    let hash = *key.hash();
    request.extensions_mut().insert(Authenticated(key));
    let response = next.run(request).await;
    match slot {
        // The slot is freed when the stream's body is dropped: when the client leaves. The
        // stream ends at its next message (a keep-alive at most 15 s away) once its key is
        // revoked, so a revoked key does not keep listening.
        Some(slot) => {
            let (parts, body) = response.into_parts();
            let cache = Arc::clone(&read_gate.gate.cache);
            let body = body
                .into_data_stream()
                .take_while(move |_| std::future::ready(cache.is_active(&hash)))
                .map(move |chunk| {
                    let _held = &slot;
                    chunk
                });
            Response::from_parts(parts, Body::from_stream(body))
        }
        None => response,
    }
}
