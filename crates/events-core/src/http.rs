//! What both HTTP services share: the JSON error body of docs/API.md, the health answer, CORS,
//! and binding a listener with an error that names the variable.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::event::FieldError;

/// The error body every refusal carries: `{"error": "...", "details": [...]}`; `details` is
/// left out when there is nothing field-specific to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, for people.
    pub error: String,
    /// Every field or parameter at fault; absent when none is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// A JSON error answer with a status code.
pub fn error_response(
    status: StatusCode,
    error: impl Into<String>,
    details: Vec<FieldError>,
) -> Response {
    (
        status,
        Json(ErrorBody {
            error: error.into(),
            details,
        }),
    )
        .into_response()
}

/// The answer of health and readiness checks: `{"status":"healthy"}`, `{"status":"ready"}`,
/// or `{"status":"unavailable","error":"…"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// Why the service is not ready; only with `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Ready,
    Unavailable,
}

/// `GET /…/health`: the process is up.
pub async fn health() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Healthy,
        error: None,
    })
}

/// The JSON `404` for paths no route serves.
pub async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such endpoint", Vec::new())
}

/// The JSON `405` for a known path asked with the wrong method.
pub async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
        Vec::new(),
    )
}

/// The answer of a readiness check: `200 {"status":"ready"}` or `503` with the reason.
pub fn readiness<E: std::fmt::Display>(result: Result<(), E>) -> Response {
    match result {
        Ok(()) => Json(Health {
            status: HealthStatus::Ready,
            error: None,
        })
        .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: HealthStatus::Unavailable,
                error: Some(reason.to_string()),
            }),
        )
            .into_response(),
    }
}

/// Counts and times every routed request by route, method and status
/// (`http_requests_total`, `http_request_duration_seconds`). Apply with `route_layer`, where
/// the matched route is known.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A `CORS_ORIGINS` entry that cannot be an `Access-Control-Allow-Origin` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid origin")]
pub struct InvalidOrigin(pub String);

/// CORS for `CORS_ORIGINS`: `*` allows any origin, otherwise a comma-separated list; `None`
/// for an empty list (each service decides what that means).
pub fn cors_layer(origins: &str) -> Result<Option<CorsLayer>, InvalidOrigin> {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            // A dashboard on another origin sends its read key (docs/SECURITY.md).
            header::AUTHORIZATION,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600));
    let origins: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    if origins.contains(&"*") {
        return Ok(Some(layer.allow_origin(Any)));
    }
    let values = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| InvalidOrigin((*o).to_owned())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(layer.allow_origin(AllowOrigin::list(values))))
}

/// Binds a listener, naming the configuration variable when the address cannot be used (the
/// error reads `VARIABLE: …` with `{:#}`, as the binaries print it).
pub async fn bind(variable: &str, address: &str) -> anyhow::Result<TcpListener> {
    let parsed: SocketAddr = address.parse().with_context(|| {
        format!("{variable}: `{address}` is not an address such as 0.0.0.0:8080")
    })?;
    TcpListener::bind(parsed)
        .await
        .with_context(|| format!("{variable}: cannot listen on {address}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_checked() {
        assert!(cors_layer("*").is_ok());
        assert!(cors_layer("https://a.example, https://b.example").is_ok());
        assert!(cors_layer("bad\norigin").is_err());
        assert!(cors_layer(" ").expect("empty is fine").is_none());
    }
}
