//! `GET /api/analytics`: the original eight metrics, narrowed by `shop_id`, `from`, `to`, `tz`
//! and the §10 filters.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::attribution::Filters;
use events_core::metrics::OriginalMetrics;
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed};
use events_core::store::{EventFilter, Plan, read};

use super::{PLAN, answer, products};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::{FILTER_PARAMS, parse_filters};
use crate::params::{QueryParams, TimeRange, event_filter, parse_shop_id};

/// The original metrics of a filter, from the rollups (max and min amounts included).
pub fn compute(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<OriginalMetrics, ApiError> {
    compute_filtered(store, filter, &Filters::default(), plan)
}

/// The same over the sessions `filters` select, from their raw rows.
pub fn compute_filtered(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Filters,
    plan: Plan,
) -> Result<OriginalMetrics, ApiError> {
    let segment = Segment::new(store, filters);
    let (store, plan) = narrowed(store, filters, &segment, plan);
    let totals = read::totals(store, filter, plan)?;
    let top_product = products::top_viewed(store, filter, plan)?;
    Ok(OriginalMetrics::compute(&totals, top_product))
}

pub async fn analytics(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<OriginalMetrics>, ApiError> {
    let names = [&["shop_id", "from", "to", "tz"][..], &FILTER_PARAMS].concat();
    let params = QueryParams::parse(query.as_deref(), &names)?;
    let filter = event_filter(parse_shop_id(&params)?, &TimeRange::parse(&params)?);
    let filters = parse_filters(|name| params.get(name))?;
    let metrics = answer(&state, move |c| {
        compute_filtered(c, &filter, &filters, PLAN)
    })
    .await?;
    Ok(Json(metrics))
}
