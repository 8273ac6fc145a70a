//! `GET /api/v1/timeseries`: page views, carts, purchases, revenue and visitors per calendar
//! interval in the request's zone, empty intervals included.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::DateTime;
use events_core::formulas;
use events_core::money;
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed, narrowed_for_people, one_value};
use events_core::store::{EventFilter, Plan, people, read};
use events_core::sums::Sums;
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::calendar::{self, Interval, MAX_POINTS};
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{Scope, format_micros};
use crate::query::{Choice, Query};

pub const INTERVALS: [(&str, Interval); 5] = [
    ("minute", Interval::Minute),
    ("hour", Interval::Hour),
    ("day", Interval::Day),
    ("week", Interval::Week),
    ("month", Interval::Month),
];

impl Choice for Interval {
    const CHOICES: &'static [(&'static str, Interval)] = &INTERVALS;
}

crate::query_params! {
    /// The query of `GET /api/v1/timeseries`.
    @check = TimeseriesRequest::checked;
    pub struct TimeseriesRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// The calendar bucket in `tz`; at most 5000 buckets.
        pub interval: Interval = Interval::Day,
    }
}

impl TimeseriesRequest {
    /// With both ends given, too many points is known before reading anything.
    pub fn checked(request: TimeseriesRequest) -> Result<TimeseriesRequest, ApiError> {
        if let (Some(from), Some(to)) = (request.scope.range.from, request.scope.range.to) {
            calendar::boundaries(
                from.instant,
                to.instant,
                request.interval,
                request.scope.range.tz,
            )
            .map_err(too_many)?;
        }
        Ok(request)
    }
}

fn too_many(count: usize) -> ApiError {
    ApiError::bad(
        "interval",
        format!(
            "gives more than {MAX_POINTS} points ({count} at least); choose a longer interval or a shorter range"
        ),
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Timeseries {
    #[schema(schema_with = <Interval as crate::query::Param>::schema)]
    pub interval: &'static str,
    pub tz: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    pub t: String,
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub visitors: u64,
}

/// The intervals of a request and their sums (no visitors): what the rollups answer.
#[derive(Debug, Clone, Default)]
pub struct PointSums {
    /// `n + 1` boundaries in microseconds for `n` intervals.
    pub bounds: Vec<i64>,
    pub sums: Vec<Sums>,
    /// The range actually read: the request's, or the span of the matching events.
    pub filter: EventFilter,
}

pub fn sums(
    store: &dyn ReadBackend,
    request: &TimeseriesRequest,
    plan: Plan,
) -> Result<PointSums, ApiError> {
    let scope = &request.scope;
    let filters = request.filters.selection();
    let segment = Segment::new(store, &filters);
    // Under one attribute filter, the sums are its value's rollup rows (the span of a range
    // without bounds is still the segment's).
    let one = one_value(&filters);
    let sums_store = store;
    let (store, narrowed_plan) = narrowed(store, &filters, &segment, plan);
    let tz = scope.range.tz;
    // Without bounds, the series runs from the interval of the first matching event to that of
    // the last.
    let filter = scope.filter();
    let span = match (scope.range.from, scope.range.to) {
        (Some(from), Some(to)) => Some((from.instant, to.instant)),
        (from, to) => store.time_span(&filter)?.and_then(|(first, last)| {
            let from = from.map_or(DateTime::from_timestamp_micros(first), |b| Some(b.instant))?;
            let to = match to {
                Some(b) => b.instant,
                None => DateTime::from_timestamp_micros(last)? + chrono::TimeDelta::microseconds(1),
            };
            Some((from, to))
        }),
    };
    let Some((from, to)) = span.filter(|(from, to)| from < to) else {
        return Ok(PointSums::default());
    };
    let bounds = calendar::boundaries(from, to, request.interval, tz).map_err(too_many)?;
    let bound_micros: Vec<i64> = bounds.iter().map(DateTime::timestamp_micros).collect();
    let bounded = EventFilter {
        shop_id: filter.shop_id.clone(),
        from_micros: Some(from.timestamp_micros()),
        to_micros: Some(to.timestamp_micros()),
    };
    let grain = match request.interval {
        Interval::Minute => calendar::common_grain(&bounds).min(60_000_000),
        _ => calendar::common_grain(&bounds),
    };
    let slots = match &one {
        Some((dimension, value)) => {
            read::value_sums_by_slot(sums_store, &bounded, grain, (*dimension, value), plan)?
        }
        None => read::sums_by_slot(store, &bounded, grain, narrowed_plan)?,
    };
    let mut sums = vec![Sums::default(); bounds.len().saturating_sub(1)];
    for (slot, piece) in slots {
        if let Some(sum) = calendar::index_of(&bound_micros, slot).and_then(|i| sums.get_mut(i)) {
            sum.add(&piece);
        }
    }
    Ok(PointSums {
        bounds: bound_micros,
        sums,
        filter: bounded,
    })
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &TimeseriesRequest,
    plan: Plan,
) -> Result<Timeseries, ApiError> {
    let tz = request.scope.range.tz;
    let PointSums {
        bounds,
        sums,
        filter,
    } = sums(store, request, plan)?;
    let filters = request.filters.selection();
    let segment = Segment::new(store, &filters);
    let (store, plan) = narrowed_for_people(store, &filters, &segment, plan);
    let visitors = people::visitors_by_slot(store, &filter, &bounds, plan)?;
    let points = bounds
        .iter()
        .zip(sums.iter().zip(visitors))
        .map(|(start, (sum, visitors))| point(*start, sum, visitors, tz))
        .collect();
    Ok(Timeseries {
        interval: request.interval.as_str(),
        tz: tz.name().to_owned(),
        points,
    })
}

fn point(start: i64, sum: &Sums, visitors: u64, tz: chrono_tz::Tz) -> Point {
    let [page_views, add_to_carts, purchases] = formulas::event_counts(sum);
    Point {
        t: format_micros(start, tz),
        page_views,
        add_to_carts,
        purchases,
        revenue: money::micros_round2(sum.revenue_micros()),
        visitors,
    }
}

/// Page views, carts, purchases, revenue and visitors per calendar bucket.
#[utoipa::path(get, path = "/api/v1/timeseries", operation_id = "timeseries", tag = "analytics", params(TimeseriesRequest),
    responses((status = 200, description = "One point per bucket, empty ones included", body = Timeseries), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<TimeseriesRequest>,
) -> Result<Json<Timeseries>, ApiError> {
    let series = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(series))
}
