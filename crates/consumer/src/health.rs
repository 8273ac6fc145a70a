//! The consumer has no API, but a container runtime still needs to ask whether it is alive:
//! a small listener at `CONSUMER_METRICS_ADDR` answers `GET /health`.

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub fn router() -> Router {
    Router::new().route("/health", get(events_core::http::health))
}

/// Serves until `stop` is cancelled.
pub async fn serve(listener: TcpListener, stop: CancellationToken) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "consumer health listener");
    }
    let served = axum::serve(listener, router())
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "consumer health listener failed");
    }
}
