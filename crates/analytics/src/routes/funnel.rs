//! `GET /api/v1/funnel`: how many got from viewing to carting to paying, by events or by
//! sessions that did the steps in order.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::money;
use events_core::store::aggregates::{self, Plan};
use events_core::store::people;
use rusqlite::Connection;
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
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
        let names = [&SCOPE_PARAMS[..], &["by", "product_id"]].concat();
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
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub count: u64,
    pub rate_from_previous: f64,
    pub rate_from_first: f64,
}

/// The three steps with their rates; the first step's rates are 100 by definition.
pub fn steps(counts: [u64; 3]) -> Vec<Step> {
    ["page_view", "add_to_cart", "purchase"]
        .into_iter()
        .enumerate()
        .map(|(i, step)| Step {
            step,
            count: counts[i],
            rate_from_previous: if i == 0 {
                100.0
            } else {
                money::percent(counts[i], counts[i - 1])
            },
            rate_from_first: if i == 0 {
                100.0
            } else {
                money::percent(counts[i], counts[0])
            },
        })
        .collect()
}

pub fn compute(
    connection: &Connection,
    request: &FunnelRequest,
    plan: Plan,
) -> Result<Funnel, ApiError> {
    let filter = request.scope.filter();
    let product = request.product_id.as_deref();
    let counts = match (request.by, product) {
        (By::Sessions, _) => people::people(connection, &filter, product, plan)?.funnel,
        (By::Events, None) => {
            let totals = aggregates::totals(connection, &filter, plan)?;
            [totals.page_views, totals.add_to_carts, totals.purchases]
        }
        (By::Events, Some(_)) => aggregates::product_totals(connection, &filter, product, plan)?
            .first()
            .map_or([0; 3], |p| [p.page_views, p.add_to_carts, p.purchases]),
    };
    Ok(Funnel {
        by: match request.by {
            By::Events => "events",
            By::Sessions => "sessions",
        },
        steps: steps(counts),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_from_the_previous_and_the_first_step() {
        let three = steps([200, 50, 10]);
        assert_eq!(
            (three[0].rate_from_previous, three[0].rate_from_first),
            (100.0, 100.0)
        );
        assert_eq!(
            (three[1].rate_from_previous, three[1].rate_from_first),
            (25.0, 25.0)
        );
        assert_eq!(
            (three[2].rate_from_previous, three[2].rate_from_first),
            (20.0, 5.0)
        );
        let empty = steps([0, 0, 0]);
        assert_eq!(empty[2].rate_from_previous, 0.0);
    }
}
