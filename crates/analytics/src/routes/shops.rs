//! `GET /api/v1/shops`: the shops with events in the range, with their first and last event
//! times.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::store::ReadBackend;
use events_core::store::{EventFilter, Plan, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::params::{QueryParams, SCOPE_PARAMS, Scope, format_micros};

#[derive(Debug, Serialize)]
pub struct Shops {
    pub shops: Vec<Shop>,
}

#[derive(Debug, Serialize)]
pub struct Shop {
    pub shop_id: String,
    pub events: u64,
    /// Events sent by bots: stored, left out of `events` and of every metric (spec §10).
    pub bot_events: u64,
    pub first_seen: Option<String>,
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

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Shops>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &SCOPE_PARAMS)?;
    let scope = Scope::parse(&params)?;
    let shops = answer(&state, move |c| compute(c, &scope, PLAN)).await?;
    Ok(Json(shops))
}
