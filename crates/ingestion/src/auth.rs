//! Who may send events (docs/SECURITY.md), with `AUTH=keys`.
//!
//! Every request needs a write key (`sk_`, `Authorization: Bearer` only) or a public key
//! (`pk_`, also as `?key=` because `sendBeacon` cannot set headers), except health, readiness,
//! the tracker script, the API description and CORS preflight. A public key is refused (`403`)
//! from an `Origin` not on its list. A key stamps its shop on events without `shop_id` and
//! refuses events for another shop, and purchases from a public key not allowed them.
//!
//! CORS: preflight is answered for the origins of every active public key (and
//! `CORS_ORIGINS`), so a browser may then send with the key of its shop.

use std::sync::Arc;

use anyhow::Context;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use events_core::event::{Event, EventType};
use events_core::keys::access::{
    AuthMode, Authenticated, Gate, Refusal, warn_if_off, without_key_param,
};
use events_core::keys::{KeyKind, normalize_origin};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Config;

/// Wraps the router in the key check and CORS of `config`; the gate, when there is one, is
/// started by `serve`.
pub fn protect(router: Router, config: &Config) -> anyhow::Result<(Router, Option<Arc<Gate>>)> {
    if config.auth.auth == AuthMode::Off {
        // Without keys to name the origins allowed to post, an empty list allows any.
        let cors = events_core::http::cors_layer(&config.cors.cors_origins)
            .context("CORS_ORIGINS")?
            .unwrap_or_else(|| {
                events_core::http::cors_layer("*")
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            });
        return Ok((router.layer(cors), None));
    }
    let burst = config.rate_limit_write;
    let gate = Gate::new(&config.redis, &config.auth, config.rate_limit_write, burst)
        .context("REDIS_URL")?;
    let cors = cors_layer(&config.cors.cors_origins, Arc::clone(&gate))?;
    let app = router
        .layer(middleware::from_fn_with_state(
            Arc::clone(&gate),
            require_key,
        ))
        .layer(cors);
    Ok((app, Some(gate)))
}

/// Logs the `AUTH=off` warning and starts the gate's refresh on `tasks`, until `stop`.
pub async fn start(
    gate: Option<&Arc<Gate>>,
    mode: AuthMode,
    stop: &tokio_util::sync::CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) {
    warn_if_off(mode, "ingestion");
    if let Some(gate) = gate {
        gate.start(stop, tasks).await;
    }
}

/// Paths anyone may ask.
fn is_open(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        || matches!(
            request.uri().path(),
            "/v1/health" | "/v1/ready" | "/t.js" | "/v1/openapi.json"
        )
}

async fn require_key(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    if is_open(&request) {
        return next.run(request).await;
    }
    let key = match gate.check(&request, |kind| kind == KeyKind::Public) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let record = &key.record;
    if record.kind == KeyKind::Read {
        return Refusal::Forbidden(
            "a read key cannot send events: use a write key (sk_) or a public key (pk_)".into(),
        )
        .into_response();
    }
    if record.kind == KeyKind::Public
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let allowed = origin
            .to_str()
            .ok()
            .and_then(|o| normalize_origin(o).ok())
            .is_some_and(|o| record.origins.contains(&o));
        if !allowed {
            return Refusal::Forbidden(
                "this public key may not be used from this origin (it is not on the key's list)"
                    .into(),
            )
            .into_response();
        }
    }
    // The key stays out of everything after this point, request logs included.
    *request.uri_mut() = without_key_param(request.uri());
    request.extensions_mut().insert(Authenticated(key));
    next.run(request).await
}

/// CORS with keys: `CORS_ORIGINS` (never `*`) plus the origins of every active public key.
fn cors_layer(origins: &str, gate: Arc<Gate>) -> anyhow::Result<CorsLayer> {
    let listed: Vec<String> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            if o == "*" {
                anyhow::bail!(
                    "CORS_ORIGINS: `*` is allowed only with AUTH=off; list the origins, or give them to public keys"
                )
            }
            normalize_origin(o).context("CORS_ORIGINS")
        })
        .collect::<Result<_, _>>()?;
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        let Some(origin) = origin.to_str().ok().and_then(|o| normalize_origin(o).ok()) else {
            return false;
        };
        listed.contains(&origin) || gate.cache.is_public_origin(&origin)
    });
    Ok(CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(3600))
        .allow_origin(allow))
}

/// Why a valid event is outside its key's scope (`403`, or a refusal in a batch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfScope {
    #[error("this key sends events for shop `{key_shop}` only, not `{event_shop}`")]
    OtherShop {
        key_shop: String,
        event_shop: String,
    },
    #[error("this public key may not send purchases (create it with --allow-purchases)")]
    Purchase,
}

/// Applies a key's scope to a valid event: stamps the key's shop when the client sent no
/// `shop_id`, and refuses another shop, or a purchase the key may not send.
pub fn scope_event(
    key: Option<&Authenticated>,
    event: &mut Event,
    shop_given: bool,
) -> Result<(), OutOfScope> {
    let Some(Authenticated(key)) = key else {
        return Ok(());
    };
    let record = &key.record;
    let Some(shop) = record.shop_id.as_deref() else {
        return Ok(());
    };
    if !shop_given {
        shop.clone_into(&mut event.shop_id);
    } else if event.shop_id != shop {
        return Err(OutOfScope::OtherShop {
            key_shop: shop.to_owned(),
            event_shop: event.shop_id.clone(),
        });
    }
    if event.event_type == EventType::Purchase && !record.may_send_purchases() {
        return Err(OutOfScope::Purchase);
    }
    Ok(())
}

/// An event's `shop_id`, read on its own: whether the client gave one (`null` is absent).
#[derive(Deserialize)]
struct ShopOnly {
    #[serde(default)]
    shop_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BatchItem {
    Event(ShopOnly),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct ShopsOfBatch {
    events: Vec<BatchItem>,
}

/// Whether a single event's body gives a `shop_id`. When in doubt, `true`: a given shop is
/// checked against the key, never overwritten.
pub fn shop_given(body: &[u8]) -> bool {
    serde_json::from_slice::<ShopOnly>(body).map_or(true, |e| e.shop_id.is_some())
}

/// Whether each event of a batch body gives a `shop_id` (in order; `true` when in doubt).
pub fn shops_given(body: &[u8], count: usize) -> Vec<bool> {
    match serde_json::from_slice::<ShopsOfBatch>(body) {
        Ok(batch) if batch.events.len() == count => batch
            .events
            .iter()
            .map(|item| match item {
                BatchItem::Event(event) => event.shop_id.is_some(),
                BatchItem::Other(_) => true,
            })
            .collect(),
        _ => vec![true; count],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_shop_is_told_from_an_absent_one() {
        assert!(shop_given(br#"{"shop_id":"a"}"#));
        assert!(!shop_given(br#"{"event_type":"page_view"}"#));
        assert!(!shop_given(br#"{"shop_id":null}"#));
        assert_eq!(
            shops_given(
                br#"{"events":[{"shop_id":"a"},{"x":1},7,{"shop_id":null}]}"#,
                4
            ),
            vec![true, false, true, false]
        );
        assert_eq!(shops_given(b"junk", 2), vec![true, true]);
    }
}
