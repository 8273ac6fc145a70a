//! `GET /api/v1/summary`: every metric over a range, and optionally the period before it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::attribution::Filters as Selection;
use events_core::dimension::Dimension;
use events_core::formulas::{self, Metrics, change};
use events_core::store::ReadBackend;
use events_core::store::read::SumsByValue;
use events_core::store::segment::{Segment, narrowed, narrowed_for_people, one_value};
use events_core::store::{EventFilter, Plan, people, read};
use events_core::sums::Sums;
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{Compare, Scope, format_local, format_micros};
use crate::query::Query;

crate::query_params! {
    /// The query of `GET /api/v1/summary`.
    pub struct SummaryRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// `previous`: also the period just before the range (as many local days when both
        /// ends are dates, else the same duration), and the change from it.
        pub compare: Option<Compare>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// The range as RFC 3339 in `tz`; `null` when not given.
    #[schema(required = true)]
    pub from: Option<String>,
    #[schema(required = true)]
    pub to: Option<String>,
    pub metrics: Metrics,
    /// With `compare=previous` and both ends given.
    #[schema(required = true)]
    pub previous: Option<Metrics>,
    /// Percent change per number metric; `null` where the previous value is 0.
    #[schema(value_type = Option<BTreeMap<String, Option<f64>>>, required = true)]
    pub change: Option<BTreeMap<&'static str, Option<f64>>>,
    /// Present when the range (or the previous period) reaches before the retention
    /// horizon: people metrics cover only what is after it, sums cover the whole range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people_since: Option<String>,
}

/// Every metric of one filter and segment: sums from the rollups (of the attribute's value
/// under one attribute filter; raw rows of the segment's sessions under others, and for the
/// currencies under any), people and session metrics from one pass (day rows of people, of
/// the attribute's value under one attribute filter; raw rows under others), new and returning
/// visitors from the visitors' first times (a segment's: its range's visitors looked up before
/// the range).
pub fn metrics(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Selection,
    plan: Plan,
) -> Result<Metrics, ApiError> {
    let segment = Segment::new(store, filters);
    let (narrow, narrow_plan) = narrowed(store, filters, &segment, plan);
    let totals = match one_value(filters) {
        Some((dimension, value)) => read::value_totals(store, filter, (dimension, &value), plan)?,
        None => read::totals(narrow, filter, narrow_plan)?,
    };
    let currencies = match (filters.is_empty(), plan) {
        (false, Plan::Rollup) => segment_currencies(store, narrow, filter, &totals)?,
        _ => read::sums_by_value(narrow, filter, Dimension::Currency, None, narrow_plan)?,
    };
    let (store, plan) = narrowed_for_people(store, filters, &segment, plan);
    let (people, sessions, visitors) = people::audience(store, filter, plan)?;
    Ok(Metrics::compute(
        &totals,
        &people,
        (&sessions, &visitors),
        &formulas::revenue_by_currency(&currencies),
    ))
}

/// The sums per currency of a segment (`narrow`, over `store`) whose counts and amounts are
/// `totals`. When every priced purchase of the range, in any segment, is in one currency (the
/// store's rollups say so at once), the segment's are too: its sums under that currency are its
/// totals, and no raw pass is needed. Otherwise the segment's raw rows are summed per currency,
/// as the raw plan always does (the baseline the equivalence tests compare this with).
fn segment_currencies(
    store: &dyn ReadBackend,
    narrow: &dyn ReadBackend,
    filter: &EventFilter,
    totals: &Sums,
) -> Result<SumsByValue, ApiError> {
    let everyone = read::sums_by_value(store, filter, Dimension::Currency, None, Plan::Rollup)?;
    if everyone.len() > 1 {
        return Ok(read::sums_by_value(
            narrow,
            filter,
            Dimension::Currency,
            None,
            Plan::Raw,
        )?);
    }
    // A currency's sums hold its priced purchases only; a segment without one has no entry.
    Ok(everyone
        .into_keys()
        .filter(|_| totals.priced_purchases > 0)
        .map(|currency| (currency, *totals))
        .collect())
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &SummaryRequest,
    plan: Plan,
) -> Result<Summary, ApiError> {
    let scope = &request.scope;
    let filters = request.filters.selection();
    let current = metrics(store, &scope.filter(), &filters, plan)?;
    let previous_scope = scope.previous().filter(|_| request.compare.is_some());
    let previous = match &previous_scope {
        Some(previous) => Some(metrics(store, &previous.filter(), &filters, plan)?),
        None => None,
    };
    let tz = scope.range.tz;
    let earliest = [Some(scope), previous_scope.as_ref()]
        .into_iter()
        .flatten()
        .map(|s| s.filter().from_micros)
        .min_by_key(|from| from.unwrap_or(i64::MIN))
        .flatten();
    let people_since = store
        .people_since()?
        .filter(|since| earliest.is_none_or(|from| from < *since))
        .map(|since| format_micros(since, tz));
    Ok(Summary {
        people_since,
        from: scope.range.from.map(|b| format_local(b.instant, tz)),
        to: scope.range.to.map(|b| format_local(b.instant, tz)),
        change: previous.as_ref().map(|p| change(&current, p)),
        metrics: current,
        previous,
    })
}

/// Every metric over a range, and optionally the period before it.
#[utoipa::path(get, path = "/api/v1/summary", operation_id = "summary", tag = "analytics", params(SummaryRequest),
    responses((status = 200, description = "The metrics", body = Summary), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<SummaryRequest>,
) -> Result<Json<Summary>, ApiError> {
    let summary = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(summary))
}
