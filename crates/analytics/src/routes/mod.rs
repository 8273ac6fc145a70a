//! The analytics router. It never binds a socket: `serve` and the tests do.
//!
//! One module per endpoint. Each parses its query into a request value, and answers it with
//! a `compute` function over one read snapshot, which the benchmark calls too with either
//! [`Plan`].

pub mod breakdown;
pub mod export;
pub mod funnel;
pub mod live;
pub mod original;
pub mod products;
pub mod realtime;
pub mod shops;
pub mod summary;
pub mod timeseries;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use events_core::http::{health, method_not_allowed, not_found, readiness, track_requests};
use events_core::store::Plan;
use rusqlite::Connection;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::ApiError;

/// How the service answers: from the rollups, reading raw rows only at ragged edges.
pub const PLAN: Plan = Plan::Rollup;

/// The API, plus the dashboard at `/` (with history fallback to `index.html`) when built.
pub fn router(state: Arc<AppState>, dashboard_dir: Option<&Path>) -> Router {
    let api = Router::new()
        .route("/api/analytics", get(original::analytics))
        .route("/api/v1/summary", get(summary::handler))
        .route("/api/v1/timeseries", get(timeseries::handler))
        .route("/api/v1/products", get(products::handler))
        .route("/api/v1/funnel", get(funnel::handler))
        .route("/api/v1/breakdown", get(breakdown::handler))
        .route("/api/v1/realtime", get(realtime::handler))
        .route("/api/v1/shops", get(shops::handler))
        .route("/api/v1/export", get(export::handler))
        .route("/api/v1/live", get(live::handler))
        .route("/api/health", get(health))
        .route("/api/ready", get(ready))
        .route_layer(middleware::from_fn(track_requests))
        .route("/api/{*rest}", get(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let app = match dashboard_dir {
        Some(dir) => api.fallback_service(crate::static_files::service(dir)),
        None => api.fallback(not_found),
    };
    // Failures are logged once where their cause is known (the error types), not again here.
    app.layer(TraceLayer::new_for_http().on_failure(()))
}

/// Runs `compute` on a read connection, inside one read transaction so that every query of
/// an answer sees the same commit, once one of the `MAX_QUERIES` slots is free.
pub(crate) async fn answer<T, F>(state: &AppState, compute: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
{
    // Held until the answer is computed, or until the client hangs up (the future is dropped,
    // which also stops the query in the store).
    let _slot = state.queries.acquire().await?;
    state
        .store
        .run(move |connection| {
            let snapshot = connection.unchecked_transaction()?;
            Ok(compute(&snapshot))
        })
        .await?
}

/// `GET /api/ready`: `200` once the store answers with the current schema.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    readiness(state.store.check_ready().await)
}
