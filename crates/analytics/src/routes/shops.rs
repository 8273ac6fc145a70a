//! `GET /api/v1/shops`: the shops with events in the range, with their first and last event
//! times.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::store::ReadBackend;
use events_core::store::{EventFilter, Plan, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::params::{Scope, ScopeQuery, format_micros};
use crate::query::Query;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Shops {
    pub shops: Vec<Shop>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Shop {
    pub shop_id: String,
    pub events: u64,
    /// Events sent by bots: stored, left out of `events` and of every metric (docs/API.md, "Where buyers come from").
    pub bot_events: u64,
    /// Event times within the range, in `tz`.
    #[schema(required = true)]
    pub first_seen: Option<String>,
    #[schema(required = true)]
    pub last_seen: Option<String>,
}

pub fn compute(store: &dyn ReadBackend, scope: &Scope, plan: Plan) -> Result<Shops, ApiError> {
    let tz = scope.range.tz;
    let filter = scope.filter();
    let mut shops = Vec::new();
    for shop in read::shops(store, &filter, plan)? {
        let shop_filter = EventFilter {
            shop_id: Some(shop.shop_id.clone()),
            ..filter.clone()
        };
        shops.push(Shop {
            bot_events: store.bot_events(&shop_filter)?,
            shop_id: shop.shop_id,
            events: shop.events,
            first_seen: shop.first_seen_micros.map(|m| format_micros(m, tz)),
            last_seen: shop.last_seen_micros.map(|m| format_micros(m, tz)),
        });
    }
    Ok(Shops { shops })
}

/// The shops with events in the range.
#[utoipa::path(get, path = "/api/v1/shops", operation_id = "shops", tag = "analytics", params(ScopeQuery),
    responses((status = 200, description = "The shops, by id", body = Shops), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(ScopeQuery { scope }): Query<ScopeQuery>,
) -> Result<Json<Shops>, ApiError> {
    let shops = answer(&state, move |c| compute(c, &scope, PLAN)).await?;
    Ok(Json(shops))
}
