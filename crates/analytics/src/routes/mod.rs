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
use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use events_core::http::{Health, method_not_allowed, not_found, readiness, track_requests};
use events_core::store::Plan;
use events_core::store::ReadBackend;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::{AppState, auth, openapi};

/// How the service answers: from the rollups, reading raw rows only at ragged edges.
pub const PLAN: Plan = Plan::Rollup;

/// Every route of the API with its entry in the OpenAPI document: a route is added here, from
/// its annotated handler, or not at all.
pub fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(original::analytics))
        .routes(routes!(summary::handler))
        .routes(routes!(timeseries::handler))
        .routes(routes!(products::handler))
        .routes(routes!(funnel::handler))
        .routes(routes!(breakdown::handler))
        .routes(routes!(realtime::handler))
        .routes(routes!(shops::handler))
        .routes(routes!(export::handler))
        .routes(routes!(live::handler))
        .routes(routes!(auth::describe_no_auth))
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(document_handler))
        .routes(routes!(openapi::docs_page))
        .routes(routes!(openapi::docs_script))
}

/// The OpenAPI document of [`api`] (`analytics openapi` prints it).
pub fn document() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The served document, built once from the routes.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| openapi::to_json(&document()));

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openapi_document", tag = "service", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn document_handler() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The API, plus the dashboard at `/` (with history fallback to `index.html`) when built.
pub fn router(state: Arc<AppState>, dashboard_dir: Option<&Path>) -> Router {
    let (api, _) = api().split_for_parts();
    let api = api
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
    F: FnOnce(&dyn ReadBackend) -> Result<T, ApiError> + Send + 'static,
{
    // Held until the answer is computed, or until the client hangs up (the future is dropped,
    // which also stops the query in the store).
    let _slot = state.queries.acquire().await?;
    state.store.snapshot(compute).await?
}

/// `GET /api/health`: `200` while the process is up.
#[utoipa::path(get, path = "/api/health", operation_id = "health", tag = "service", security(()),
    responses((status = 200, description = "The process is up", body = Health)))]
async fn health() -> Json<Health> {
    events_core::http::health().await
}

/// `GET /api/ready`: `200` once the store answers with the current schema.
#[utoipa::path(get, path = "/api/ready", operation_id = "ready", tag = "service", security(()),
    responses(
        (status = 200, description = "The store answers with the current schema", body = Health),
        (status = 503, description = "Not ready, and why", body = Health),
    ))]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    readiness(state.store.check_ready().await)
}

#[cfg(test)]
mod tests {
    /// Routes come only from annotated handlers through [`super::api`] (`.routes(routes!(…))`),
    /// which puts them in the document; the one plain route is the JSON 404 under `/api/`.
    #[test]
    fn no_route_bypasses_the_document() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("../lib.rs"),
            include_str!("../auth.rs"),
            include_str!("../openapi.rs"),
        ];
        let plain: Vec<&str> = sources
            .iter()
            .flat_map(|source| source.lines())
            .map(str::trim)
            .filter(|line| line.starts_with(".route(") || line.starts_with(".nest("))
            .collect();
        assert_eq!(plain, [".route(\"/api/{*rest}\", get(not_found))"]);
    }
}
