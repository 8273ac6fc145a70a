//! `GET /api/v1/funnel`: how many got from viewing to carting to paying, by events or by
//! sessions that did the steps in order.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::dimension::Dimension;
use events_core::metrics::{FunnelStep, event_counts, funnel_steps};
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed};
use events_core::store::{Plan, people, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::FILTER_PARAMS;
use crate::params::{QueryParams, SCOPE_PARAMS, Scope, parse_choice, parse_product_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Events,
    Sessions,
}

#[derive(Debug, Clone)]
pub struct FunnelRequest {
    pub scope: Scope,
    pub by: By,
    pub product_id: Option<String>,
}

impl FunnelRequest {
    pub fn parse(raw: Option<&str>) -> Result<FunnelRequest, ApiError> {
        let names = [&SCOPE_PARAMS[..], &FILTER_PARAMS, &["by", "product_id"]].concat();
        let params = QueryParams::parse(raw, &names)?;
        Ok(FunnelRequest {
            scope: Scope::parse(&params)?,
            by: parse_choice(
                &params,
                "by",
                &[("events", By::Events), ("sessions", By::Sessions)],
                By::Events,
            )?,
            product_id: parse_product_id(&params)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Funnel {
    pub by: &'static str,
    pub steps: Vec<FunnelStep>,
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &FunnelRequest,
    plan: Plan,
) -> Result<Funnel, ApiError> {
    let filters = &request.scope.filters;
    let segment = Segment::new(store, filters);
    let (store, plan) = narrowed(store, filters, &segment, plan);
    let filter = request.scope.filter();
    let product = request.product_id.as_deref();
    let counts = match (request.by, product) {
        (By::Sessions, _) => people::people(store, &filter, product, plan)?.funnel,
        (By::Events, None) => event_counts(&read::totals(store, &filter, plan)?),
        (By::Events, Some(_)) => {
            read::sums_by_value(store, &filter, Dimension::Product, product, plan)?
                .values()
                .next()
                .map_or([0; 3], event_counts)
        }
    };
    Ok(Funnel {
        by: match request.by {
            By::Events => "events",
            By::Sessions => "sessions",
        },
        steps: funnel_steps(counts),
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Funnel>, ApiError> {
    let request = FunnelRequest::parse(query.as_deref())?;
    let funnel = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(funnel))
}
