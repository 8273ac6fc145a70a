//! `GET /api/v1/breakdown?dimension=…`: the metrics of each value of one attribution
//! dimension (or each page), ranked and paged (spec §10), with the shared parameters and the
//! filters, and optionally the previous period's rows of the same values.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::attribution::BreakdownDimension;
use events_core::metrics::{BreakdownRow, BreakdownSort, rank_breakdown};
use events_core::sessions::SessionCounts;
use events_core::store::{ReadBackend, attributed};
use events_core::sums::Sums;
use serde::Serialize;

use super::answer;
use crate::AppState;
use crate::error::ApiError;
use crate::filters::FILTER_PARAMS;
use crate::params::{QueryParams, SCOPE_PARAMS, Scope, parse_choice, parse_compare, parse_number};

#[derive(Debug, Clone)]
pub struct BreakdownRequest {
    pub scope: Scope,
    pub dimension: BreakdownDimension,
    pub sort: BreakdownSort,
    pub limit: usize,
    pub offset: usize,
    pub compare: bool,
}

impl BreakdownRequest {
    pub fn parse(raw: Option<&str>) -> Result<BreakdownRequest, ApiError> {
        let names = [
            &SCOPE_PARAMS[..],
            &FILTER_PARAMS,
            &["dimension", "sort", "limit", "offset", "compare"],
        ]
        .concat();
        let params = QueryParams::parse(raw, &names)?;
        let dimension = match params.get("dimension") {
            None => {
                return Err(ApiError::bad(
                    "dimension",
                    format!(
                        "is required (one of {})",
                        BreakdownDimension::names().join(", ")
                    ),
                ));
            }
            Some(name) => BreakdownDimension::parse(name).ok_or_else(|| {
                ApiError::bad(
                    "dimension",
                    format!(
                        "`{name}` is not one of {}",
                        BreakdownDimension::names().join(", ")
                    ),
                )
            })?,
        };
        Ok(BreakdownRequest {
            scope: Scope::parse(&params)?,
            dimension,
            sort: parse_choice(
                &params,
                "sort",
                &BreakdownSort::ALL,
                BreakdownSort::Visitors,
            )?,
            limit: parse_number(&params, "limit", 1, 1000, 10)? as usize,
            offset: parse_number(&params, "offset", 0, u64::from(u32::MAX), 0)? as usize,
            compare: parse_compare(&params)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Breakdown {
    pub dimension: &'static str,
    pub rows: Vec<BreakdownRow>,
    pub total: usize,
    /// With `compare=previous`: the previous period's row of each value of `rows`, in the
    /// same order (zeros where it had none); `null` without both `from` and `to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Option<Vec<BreakdownRow>>>,
}

/// Every row of a scope, ranked.
pub fn ranked(
    store: &dyn ReadBackend,
    scope: &Scope,
    dimension: BreakdownDimension,
    sort: BreakdownSort,
) -> Result<Vec<BreakdownRow>, ApiError> {
    let rows = attributed::breakdown(store, &scope.filter(), &scope.filters, dimension)?;
    Ok(rank_breakdown(rows, sort))
}

pub fn compute(store: &dyn ReadBackend, request: &BreakdownRequest) -> Result<Breakdown, ApiError> {
    let rows = ranked(store, &request.scope, request.dimension, request.sort)?;
    let total = rows.len();
    let rows: Vec<BreakdownRow> = rows
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    let previous = match (request.compare, request.scope.previous()) {
        (false, _) => None,
        (true, None) => Some(None),
        (true, Some(previous)) => {
            let mut before: HashMap<Option<String>, BreakdownRow> = attributed::breakdown(
                store,
                &previous.filter(),
                &previous.filters,
                request.dimension,
            )?
            .into_iter()
            .map(|row| (row.value.clone(), row))
            .collect();
            let matched = rows
                .iter()
                .map(|row| {
                    before.remove(&row.value).unwrap_or_else(|| {
                        BreakdownRow::compute(
                            row.value.clone(),
                            &Sums::default(),
                            0,
                            &SessionCounts::default(),
                        )
                    })
                })
                .collect();
            Some(Some(matched))
        }
    };
    Ok(Breakdown {
        dimension: request.dimension.name(),
        rows,
        total,
        previous,
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Breakdown>, ApiError> {
    let request = BreakdownRequest::parse(query.as_deref())?;
    let breakdown = answer(&state, move |c| compute(c, &request)).await?;
    Ok(Json(breakdown))
}
