//! `GET /api/analytics`: the original eight metrics, narrowed by `shop_id`, `from`, `to`, `tz`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::formulas::OriginalMetrics;
use events_core::store::ReadBackend;
use events_core::store::{EventFilter, Plan, read};

use super::{PLAN, answer, products};
use crate::AppState;
use crate::error::ApiError;
use crate::params::ScopeQuery;
use crate::query::Query;

/// The original metrics of a filter, from the rollups (max and min amounts included).
pub fn compute(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<OriginalMetrics, ApiError> {
    let totals = read::totals(store, filter, plan)?;
    let top_product = products::top_viewed(store, filter, plan)?;
    Ok(OriginalMetrics::compute(&totals, top_product))
}

/// The original eight metrics, with the original service's names and meanings.
#[utoipa::path(get, path = "/api/analytics", operation_id = "original_metrics", tag = "analytics", params(ScopeQuery),
    responses((status = 200, description = "The original metrics", body = OriginalMetrics), crate::openapi::QueryErrors))]
pub async fn analytics(
    State(state): State<Arc<AppState>>,
    Query(ScopeQuery { scope }): Query<ScopeQuery>,
) -> Result<Json<OriginalMetrics>, ApiError> {
    let filter = scope.filter();
    let metrics = answer(&state, move |c| compute(c, &filter, PLAN)).await?;
    Ok(Json(metrics))
}
