//! `GET /api/v1/funnel`: how many got from viewing to carting to paying, by events or by
//! sessions that did the steps in order.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::dimension::Dimension;
use events_core::formulas::{FunnelStep, event_counts, funnel_steps};
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed, narrowed_for_people};
use events_core::store::{Plan, people, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{ProductId, Scope};
use crate::query::{Choice, Query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Events,
    Sessions,
}

impl Choice for By {
    const CHOICES: &'static [(&'static str, By)] =
        &[("events", By::Events), ("sessions", By::Sessions)];
}

crate::query_params! {
    /// The query of `GET /api/v1/funnel`.
    pub struct FunnelRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// `events` counts the events of each step; `sessions` the sessions that took the
        /// steps in order.
        pub by: By = By::Events,
        /// Only this product's events (1-128 characters without control characters).
        pub product_id: Option<ProductId>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    #[schema(schema_with = <By as crate::query::Param>::schema)]
    pub by: &'static str,
    pub steps: Vec<FunnelStep>,
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &FunnelRequest,
    plan: Plan,
) -> Result<Funnel, ApiError> {
    let filters = request.filters.selection();
    let segment = Segment::new(store, &filters);
    let filter = request.scope.filter();
    let product = request.product_id.as_ref().map(|p| p.0.as_str());
    let (people_store, people_plan) = narrowed_for_people(store, &filters, &segment, plan);
    let (store, plan) = narrowed(store, &filters, &segment, plan);
    let counts = match (request.by, product) {
        // A product's funnel is raw whatever the plan (no day rows per product).
        (By::Sessions, _) => people::people(people_store, &filter, product, people_plan)?.funnel,
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

/// How many got from viewing to carting to paying.
#[utoipa::path(get, path = "/api/v1/funnel", operation_id = "funnel", tag = "analytics", params(FunnelRequest),
    responses((status = 200, description = "The three steps", body = Funnel), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<FunnelRequest>,
) -> Result<Json<Funnel>, ApiError> {
    let funnel = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(funnel))
}
