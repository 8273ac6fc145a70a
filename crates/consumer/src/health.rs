//! The consumer has no API, but operators and container runtimes still need to ask about it:
//! a small listener at `CONSUMER_METRICS_ADDR` answers `GET /health` (the process is up) and
//! `GET /ready` (Redis and the store both work; `503` naming what fails), and `GET /metrics`
//! for Prometheus.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::status::Status;

pub fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/health", get(events_core::http::health))
        .route("/ready", get(ready))
        .route("/metrics", get(events_core::prometheus::metrics_endpoint))
        .with_state(status)
}

async fn ready(State(status): State<Arc<Status>>) -> Response {
    events_core::http::readiness(status.readiness())
}

/// Serves until `stop` is cancelled.
pub async fn serve(listener: TcpListener, status: Arc<Status>, stop: CancellationToken) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "consumer health listener");
    }
    let served = axum::serve(listener, router(status))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "consumer health listener failed");
    }
}
