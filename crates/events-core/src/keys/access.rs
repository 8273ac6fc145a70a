//! What both HTTP services share about keys: the `AUTH` settings, finding the key a request
//! presents (`Authorization: Bearer KEY`, or `?key=` where a kind allows it), checking it
//! against the cache and the rate limits, and the JSON answers of a refusal.
//!
//! Each service decides the rest in its own `auth` module: which kinds it takes, which paths
//! need no key, and the scope (shop, origins) of a good key.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::KeyKind;
use super::cache::{CachedKey, KeyCache, Lookup};
use super::client::TrustedProxies;
use super::limits::RateLimits;
use super::store::{KeyStore, KeyStoreError};
use crate::config::{RedisArgs, parse_duration};
use crate::http::error_response;

/// Whether requests need keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Every request needs a key (docs/SECURITY.md).
    Keys,
    /// No keys, as the original project: only for local experiments.
    Off,
}

/// Access control settings shared by ingestion and analytics.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// `keys`: every request needs an API key (`analytics keys create`); `off`: no keys, as the
    /// original project (a warning is logged at start).
    #[arg(long, env = "AUTH", default_value = "keys", value_enum)]
    pub auth: AuthMode,

    /// Requests per second per client address whose key is missing, unknown or revoked;
    /// `429` beyond.
    #[arg(long, env = "RATE_LIMIT_ANON", default_value = "10")]
    pub rate_limit_anon: NonZeroU32,

    /// Proxies whose `X-Forwarded-For` is believed for the client address: comma-separated
    /// CIDRs or addresses (`10.0.0.0/8,127.0.0.1`). Empty: the connection's peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// How often the key set is reloaded from Redis; a revoked key is refused within twice
    /// this (keep it at 5s or less).
    #[arg(long, env = "KEYS_REFRESH", default_value = "5s", value_parser = parse_duration)]
    pub keys_refresh: Duration,
}

/// The key check of one service: the key set, the rate limits, the trusted proxies.
pub struct Gate {
    pub cache: Arc<KeyCache>,
    pub limits: RateLimits,
    pub proxies: TrustedProxies,
}

/// A request's good key, put in the request's extensions for the handlers.
#[derive(Clone)]
pub struct Authenticated(pub Arc<CachedKey>);

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// `401`: missing, unknown or revoked, or in a URL where that is not allowed.
    Unauthorized { message: String, key_sent: bool },
    /// `403`: a good key used outside its scope.
    Forbidden(String),
    /// `429`: over a rate limit or a cap, with when to retry.
    TooMany {
        message: String,
        retry_after: Duration,
    },
    /// `503`: no copy of the key set yet.
    NotLoaded,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized { message, key_sent } => {
                let mut response = error_response(StatusCode::UNAUTHORIZED, message, Vec::new());
                let challenge = if key_sent {
                    r#"Bearer error="invalid_token""#
                } else {
                    "Bearer"
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                response
            }
            Refusal::Forbidden(message) => {
                error_response(StatusCode::FORBIDDEN, message, Vec::new())
            }
            Refusal::TooMany {
                message,
                retry_after,
            } => with_retry_after(
                error_response(StatusCode::TOO_MANY_REQUESTS, message, Vec::new()),
                retry_after,
            ),
            Refusal::NotLoaded => with_retry_after(
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the API keys cannot be checked yet (Redis has not answered since start); retry later",
                    Vec::new(),
                ),
                Duration::from_secs(1),
            ),
        }
    }
}

/// Adds `Retry-After` in whole seconds, at least 1.
pub fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// Where a request's key was found.
enum Presented {
    None,
    Header(String),
    Url(String),
    /// An `Authorization` header that is not `Bearer KEY`.
    Malformed,
}

impl Gate {
    /// The gate of a service with `AUTH=keys`; [`Gate::start`] loads the key set.
    pub fn new(
        redis: &RedisArgs,
        auth: &AuthArgs,
        per_key: NonZeroU32,
        key_burst: NonZeroU32,
    ) -> Result<Arc<Gate>, KeyStoreError> {
        let store = KeyStore::new(&redis.redis_url, redis.redis_timeout)?;
        Ok(Arc::new(Gate {
            cache: KeyCache::new(store, auth.keys_refresh),
            limits: RateLimits::new(per_key, key_burst, auth.rate_limit_anon),
            proxies: auth.trusted_proxies.clone(),
        }))
    }

    /// Loads the key set once (without failing when Redis is away: requests are then `503`
    /// until it answers) and keeps it fresh, and the rate limits trimmed, until `stop`; both
    /// run on `tasks`, so that the service awaits them at shutdown.
    pub async fn start(self: &Arc<Self>, stop: &CancellationToken, tasks: &TaskTracker) {
        if let Err(error) = self.cache.reload().await {
            tracing::warn!(%error, "cannot load the API keys from Redis yet; answering 503 until it answers");
        }
        tasks.spawn(Arc::clone(&self.cache).run_refresh(stop.clone()));
        let gate = Arc::clone(self);
        let stop = stop.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(60)) => gate.limits.forget_idle(),
                }
            }
        });
    }

    /// The good key a request presents, checked against the key set and the rate limits.
    /// `url_allowed` says whether a key of that kind may come as `?key=` on this request.
    pub fn check(
        &self,
        request: &axum::extract::Request,
        url_allowed: impl Fn(KeyKind) -> bool,
    ) -> Result<Arc<CachedKey>, Refusal> {
        let (key, in_url) = match presented(request.headers(), request.uri().query()) {
            Presented::Header(key) => (key, false),
            Presented::Url(key) => (key, true),
            Presented::None => {
                return Err(self.anonymous(
                    request,
                    "an API key is required: send `Authorization: Bearer KEY`",
                    false,
                ));
            }
            Presented::Malformed => {
                return Err(self.anonymous(
                    request,
                    "the Authorization header must be `Bearer KEY`",
                    true,
                ));
            }
        };
        let found = match self.cache.lookup(&key) {
            Lookup::Found(found) => found,
            Lookup::NotFound => {
                return Err(self.anonymous(request, "the API key is unknown or revoked", true));
            }
            Lookup::NotLoaded => return Err(Refusal::NotLoaded),
        };
        if in_url && !url_allowed(found.record.kind) {
            let message = format!(
                "a {} key must not be sent in a URL (it would be logged along the way); send `Authorization: Bearer KEY`",
                found.record.kind.as_str()
            );
            return Err(self.anonymous(request, &message, true));
        }
        self.limits
            .check_key(found.hash())
            .map_err(|retry_after| Refusal::TooMany {
                message: "too many requests with this API key; retry later".into(),
                retry_after,
            })?;
        Ok(found)
    }

    /// The refusal of a request without a good key: `429` past the per-address limit,
    /// otherwise `401` with `message`.
    fn anonymous(
        &self,
        request: &axum::extract::Request,
        message: &str,
        key_sent: bool,
    ) -> Refusal {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let address: IpAddr = self.proxies.client_address(peer, request.headers());
        match self.limits.check_address(address) {
            Ok(()) => Refusal::Unauthorized {
                message: message.to_owned(),
                key_sent,
            },
            Err(retry_after) => Refusal::TooMany {
                message: "too many requests without a valid API key; retry later".into(),
                retry_after,
            },
        }
    }
}

/// The key of a request: `?key=` when the query has one (then it was sent in a URL, whatever
/// the headers say), else the `Authorization: Bearer` header.
fn presented(headers: &HeaderMap, query: Option<&str>) -> Presented {
    if let Some(key) = query.and_then(key_param) {
        return Presented::Url(key);
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Presented::None;
    };
    let Ok(text) = value.to_str() else {
        return Presented::Malformed;
    };
    match text.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") && !key.trim().is_empty() => {
            Presented::Header(key.trim().to_owned())
        }
        _ => Presented::Malformed,
    }
}

fn key_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned())
}

/// The URI without its `key` parameter, so that what comes after (the handlers' parameter
/// checks, request logs) never sees the key.
pub fn without_key_param(uri: &Uri) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name != "key")
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    rebuild_query(uri, &kept)
}

/// The URI with `kept` as its query string.
pub fn rebuild_query(uri: &Uri, kept: &[(String, String)]) -> Uri {
    let mut path_and_query = uri.path().to_owned();
    if !kept.is_empty() {
        path_and_query.push('?');
        path_and_query.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .finish(),
        );
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// The warning of `AUTH=off`, once at start.
pub fn warn_if_off(mode: AuthMode, service: &str) {
    if mode == AuthMode::Off {
        tracing::warn!(
            service,
            "AUTH=off: every request is served without an API key; anyone who can reach this service can use it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_parameter_is_taken_out_of_a_uri() {
        let uri: Uri = "/api/v1/live?shop_id=a&key=rk_x".parse().expect("uri");
        assert_eq!(without_key_param(&uri), "/api/v1/live?shop_id=a");
        let uri: Uri = "/api/v1/live?key=rk_x".parse().expect("uri");
        assert_eq!(without_key_param(&uri), "/api/v1/live");
    }

    #[test]
    fn a_key_is_found_in_the_url_first_then_the_bearer_header() {
        let mut headers = HeaderMap::new();
        assert!(matches!(presented(&headers, None), Presented::None));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer sk_abc".parse().expect("value"),
        );
        assert!(matches!(presented(&headers, None), Presented::Header(k) if k == "sk_abc"));
        assert!(matches!(presented(&headers, Some("key=pk_x")), Presented::Url(k) if k == "pk_x"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("value"));
        assert!(matches!(presented(&headers, None), Presented::Malformed));
    }
}
