//! The analytics router. It never binds a socket: `serve` and the tests do.

mod original;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use events_core::http::{error_response, health, readiness};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::AppState;

/// The API, plus the dashboard at `/` (with history fallback to `index.html`) when built.
pub fn router(state: Arc<AppState>, dashboard_dir: Option<&Path>) -> Router {
    let api = Router::new()
        .route("/api/analytics", get(original::analytics))
        .route("/api/health", get(health))
        .route("/api/ready", get(ready))
        .route("/api/{*rest}", get(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let app = match dashboard_dir {
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"));
            api.fallback_service(ServeDir::new(dir).fallback(index))
        }
        None => api.fallback(not_found),
    };
    app.layer(TraceLayer::new_for_http())
}

/// `GET /api/ready`: `200` once the store answers with the current schema.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    readiness(state.store.check_ready().await)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such endpoint", Vec::new())
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
        Vec::new(),
    )
}
