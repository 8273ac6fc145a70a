//! `GET /api/v1/breakdown?dimension=…`: the metrics of each value of one attribution
//! dimension (or each page), ranked and paged (docs/API.md, "Where buyers come from"), with the shared parameters and the
//! filters, and optionally the previous period's rows of the same values.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::attribution::BreakdownDimension;
use events_core::formulas::{BreakdownRow, BreakdownSort, rank_breakdown};
use events_core::sessions::SessionCounts;
use events_core::store::{Plan, ReadBackend, attributed};
use events_core::sums::Sums;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::Required;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{Compare, Number, Scope};
use crate::query::{Choice, Param, Query, QueryField, QueryParams, parameter};

impl Choice for BreakdownSort {
    const CHOICES: &'static [(&'static str, BreakdownSort)] = &BreakdownSort::ALL;
}

/// `dimension`: the one required parameter of the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension(pub BreakdownDimension);

impl Param for Dimension {
    fn parse(name: &str, text: &str) -> Result<Dimension, ApiError> {
        BreakdownDimension::parse(text)
            .map(Dimension)
            .ok_or_else(|| {
                ApiError::bad(
                    name,
                    format!(
                        "`{text}` is not one of {}",
                        BreakdownDimension::names().join(", ")
                    ),
                )
            })
    }

    fn schema() -> Schema {
        Schema::Object(dimension_schema())
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.name())
    }
}

/// Required: absent is a `400` naming it, and the document marks it required.
impl QueryField for Dimension {
    fn names(field: &'static str, names: &mut Vec<&'static str>) {
        names.push(field);
    }

    fn read(field: &'static str, query: &QueryParams) -> Result<Dimension, ApiError> {
        match query.get(field) {
            Some(text) => Dimension::parse(field, text),
            None => Err(ApiError::bad(
                field,
                format!(
                    "is required (one of {})",
                    BreakdownDimension::names().join(", ")
                ),
            )),
        }
    }

    fn document(field: &'static str, description: &str, parameters: &mut Vec<Parameter>) {
        let mut documented = parameter::<Dimension>(field, description, None);
        documented.required = Required::True;
        parameters.push(documented);
    }
}

/// `limit`: 1 to 1000.
pub type Limit = Number<1, 1000>;
/// `offset`: 0 to 4294967295.
pub type Offset = Number<0, { u32::MAX as u64 }>;

crate::query_params! {
    /// The query of `GET /api/v1/breakdown`.
    pub struct BreakdownRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// What the rows are: the values of one attribution dimension of the sessions (taken
        /// from their first event), or `page`, the paths of the page views.
        pub dimension: Dimension,
        /// The metric to rank by, descending (ties by value).
        pub sort: BreakdownSort = BreakdownSort::Visitors,
        /// Rows in the page.
        pub limit: Limit = Number(10),
        /// Rows skipped before the page.
        pub offset: Offset = Number(0),
        /// `previous`: also the previous period's row of each value of the page.
        pub compare: Option<Compare>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    /// The dimension asked for.
    #[schema(schema_with = dimension_schema)]
    pub dimension: &'static str,
    /// The page of rows, ranked.
    pub rows: Vec<BreakdownRow>,
    /// How many values there are in all.
    pub total: usize,
    /// With `compare=previous`: the previous period's row of each value of `rows`, in the
    /// same order (zeros where it had none); `null` without both `from` and `to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<BreakdownRow>>)]
    pub previous: Option<Option<Vec<BreakdownRow>>>,
}

fn dimension_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(BreakdownDimension::names()))
        .build()
}

/// Every row of a scope, ranked.
pub fn ranked(
    store: &dyn ReadBackend,
    scope: &Scope,
    filters: &Filters,
    dimension: BreakdownDimension,
    sort: BreakdownSort,
    plan: Plan,
) -> Result<Vec<BreakdownRow>, ApiError> {
    let rows = attributed::breakdown(
        store,
        &scope.filter(),
        &filters.selection(),
        dimension,
        plan,
    )?;
    Ok(rank_breakdown(rows, sort))
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &BreakdownRequest,
    plan: Plan,
) -> Result<Breakdown, ApiError> {
    let dimension = request.dimension.0;
    let rows = ranked(
        store,
        &request.scope,
        &request.filters,
        dimension,
        request.sort,
        plan,
    )?;
    let total = rows.len();
    let rows: Vec<BreakdownRow> = rows
        .into_iter()
        .skip(request.offset.get())
        .take(request.limit.get())
        .collect();
    let previous = match (request.compare.is_some(), request.scope.previous()) {
        (false, _) => None,
        (true, None) => Some(None),
        (true, Some(previous)) => {
            let mut before: HashMap<Option<String>, BreakdownRow> = attributed::breakdown(
                store,
                &previous.filter(),
                &request.filters.selection(),
                dimension,
                plan,
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
        dimension: dimension.name(),
        rows,
        total,
        previous,
    })
}

/// The metrics of each value of one dimension, ranked and paged (docs/API.md, "Where buyers come from").
#[utoipa::path(get, path = "/api/v1/breakdown", operation_id = "breakdown", tag = "analytics", params(BreakdownRequest),
    responses((status = 200, description = "The rows of the page, ranked", body = Breakdown), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<BreakdownRequest>,
) -> Result<Json<Breakdown>, ApiError> {
    let breakdown = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(breakdown))
}
