//! `GET /api/v1/realtime`: the last 30 minutes by event time — the current minute so far and
//! the 29 whole minutes before it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use events_core::dimension::Dimension;
use events_core::formulas;
use events_core::money;
use events_core::store::ReadBackend;
use events_core::store::{EventFilter, Plan, people, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::params::ShopQuery;
use crate::query::Query;

/// Minutes in the window.
pub const MINUTES: usize = 30;
/// Products listed in `top_products`.
pub const TOP_PRODUCTS: usize = 10;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Realtime {
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub visitors: u64,
    pub per_minute: Vec<u64>,
    pub top_products: Vec<TopProduct>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopProduct {
    pub product_id: String,
    pub page_views: u64,
}

/// The window ending with the minute that holds `now`: `[start, end)` in microseconds.
pub fn window(now: DateTime<Utc>) -> (i64, i64) {
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let end = minute + TimeDelta::minutes(1);
    let start = end - TimeDelta::minutes(MINUTES as i64);
    (start.timestamp_micros(), end.timestamp_micros())
}

pub fn compute(
    store: &dyn ReadBackend,
    shop_id: Option<String>,
    now: DateTime<Utc>,
    plan: Plan,
) -> Result<Realtime, ApiError> {
    let (start, end) = window(now);
    let filter = EventFilter {
        shop_id,
        from_micros: Some(start),
        to_micros: Some(end),
    };
    let totals = read::totals(store, &filter, plan)?;
    let minutes = read::sums_by_slot(store, &filter, 60_000_000, plan)?;
    let per_minute = (0..MINUTES as i64)
        .map(|i| {
            minutes
                .get(&(start + i * 60_000_000))
                .map_or(0, |t| formulas::event_counts(t)[0])
        })
        .collect();
    let products = read::sums_by_value(store, &filter, Dimension::Product, None, plan)?;
    let [page_views, add_to_carts, purchases] = formulas::event_counts(&totals);
    Ok(Realtime {
        page_views,
        add_to_carts,
        purchases,
        revenue: money::micros_round2(totals.revenue_micros()),
        visitors: people::people(store, &filter, None, plan)?.visitors,
        per_minute,
        top_products: formulas::most_viewed(products)
            .into_iter()
            .take(TOP_PRODUCTS)
            .map(|p| TopProduct {
                product_id: p.product_id,
                page_views: p.page_views,
            })
            .collect(),
    })
}

/// The last 30 minutes by event time.
#[utoipa::path(get, path = "/api/v1/realtime", operation_id = "realtime", tag = "analytics", params(ShopQuery),
    responses((status = 200, description = "The window's totals, per minute and top products", body = Realtime), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ShopQuery>,
) -> Result<Json<Realtime>, ApiError> {
    let shop_id = query.shop_id();
    let now = Utc::now();
    let realtime = answer(&state, move |c| compute(c, shop_id, now, PLAN)).await?;
    Ok(Json(realtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_current_minute_and_the_29_before_it() {
        let now: DateTime<Utc> = "2025-10-02T10:30:25Z".parse().expect("time");
        let (start, end) = window(now);
        let at = |text: &str| {
            text.parse::<DateTime<Utc>>()
                .expect("time")
                .timestamp_micros()
        };
        assert_eq!(start, at("2025-10-02T10:01:00Z"));
        assert_eq!(end, at("2025-10-02T10:31:00Z"));
    }
}
