//! `GET /api/analytics`: the original eight metrics, narrowed by `shop_id`, `from`, `to`, `tz`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::formulas::OriginalMetrics;
use events_core::store::ReadBackend;
use events_core::store::{EventFilter, Plan, read};

use super::{PLAN, answer, products};
use crate::AppState;
use crate::error::ApiError;
use crate::params::{QueryParams, TimeRange, event_filter, parse_shop_id};

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

pub async fn analytics(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<OriginalMetrics>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["shop_id", "from", "to", "tz"])?;
    let filter = event_filter(parse_shop_id(&params)?, &TimeRange::parse(&params)?);
    let metrics = answer(&state, move |c| compute(c, &filter, PLAN)).await?;
    Ok(Json(metrics))
}
