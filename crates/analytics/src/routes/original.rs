//! `GET /api/analytics`: the original eight metrics, narrowed by `shop_id`, `from`, `to`, `tz`
//! and the attribution filters.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::attribution::Filters as Selection;
use events_core::formulas::OriginalMetrics;
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed};
use events_core::store::{EventFilter, Plan, read};

use super::{PLAN, answer, products};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::Scope;
use crate::query::Query;

crate::query_params! {
    /// The query of `GET /api/analytics`.
    pub struct AnalyticsRequest {
        pub scope: Scope,
        pub filters: Filters,
    }
}

/// The original metrics of a filter, from the rollups (max and min amounts included).
pub fn compute(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<OriginalMetrics, ApiError> {
    compute_filtered(store, filter, &Selection::default(), plan)
}

/// The same over the sessions `filters` select, from their raw rows.
pub fn compute_filtered(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Selection,
    plan: Plan,
) -> Result<OriginalMetrics, ApiError> {
    let segment = Segment::new(store, filters);
    let (store, plan) = narrowed(store, filters, &segment, plan);
    let totals = read::totals(store, filter, plan)?;
    let top_product = products::top_viewed(store, filter, plan)?;
    Ok(OriginalMetrics::compute(&totals, top_product))
}

/// The original eight metrics, with the original service's names and meanings.
#[utoipa::path(get, path = "/api/analytics", operation_id = "original_metrics", tag = "analytics", params(AnalyticsRequest),
    responses((status = 200, description = "The original metrics", body = OriginalMetrics), crate::openapi::QueryErrors))]
pub async fn analytics(
    State(state): State<Arc<AppState>>,
    Query(AnalyticsRequest { scope, filters }): Query<AnalyticsRequest>,
) -> Result<Json<OriginalMetrics>, ApiError> {
    let filter = scope.filter();
    let filters = filters.selection();
    let metrics = answer(&state, move |c| {
        compute_filtered(c, &filter, &filters, PLAN)
    })
    .await?;
    Ok(Json(metrics))
}
