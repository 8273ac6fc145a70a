//! `GET /api/v1/products`: products ranked by one metric, paged.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::dimension::Dimension;
pub use events_core::metrics::ProductSort as Sort;
use events_core::metrics::{self, ProductRow};
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed};
use events_core::store::{EventFilter, Plan, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::FILTER_PARAMS;
use crate::params::{QueryParams, SCOPE_PARAMS, Scope, parse_choice, parse_number};

pub const SORTS: [(&str, Sort); 5] = [
    ("page_views", Sort::PageViews),
    ("add_to_carts", Sort::AddToCarts),
    ("purchases", Sort::Purchases),
    ("revenue", Sort::Revenue),
    ("conversion_rate", Sort::ConversionRate),
];

#[derive(Debug, Clone)]
pub struct ProductsRequest {
    pub scope: Scope,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
}

impl ProductsRequest {
    pub fn parse(raw: Option<&str>) -> Result<ProductsRequest, ApiError> {
        let names = [
            &SCOPE_PARAMS[..],
            &FILTER_PARAMS,
            &["sort", "limit", "offset"],
        ]
        .concat();
        let params = QueryParams::parse(raw, &names)?;
        Ok(ProductsRequest {
            scope: Scope::parse(&params)?,
            sort: parse_sort(&params)?,
            limit: parse_number(&params, "limit", 1, 1000, 10)? as usize,
            offset: parse_number(&params, "offset", 0, u64::from(u32::MAX), 0)? as usize,
        })
    }
}

pub fn parse_sort(params: &QueryParams) -> Result<Sort, ApiError> {
    parse_choice(params, "sort", &SORTS, Sort::PageViews)
}

#[derive(Debug, Serialize)]
pub struct Products {
    pub products: Vec<ProductRow>,
    pub total: usize,
}

/// Every product of the scope, ranked (see [`metrics::rank_products`]).
pub fn ranked(
    store: &dyn ReadBackend,
    scope: &Scope,
    sort: Sort,
    plan: Plan,
) -> Result<Vec<ProductRow>, ApiError> {
    let segment = Segment::new(store, &scope.filters);
    let (store, plan) = narrowed(store, &scope.filters, &segment, plan);
    let products = read::sums_by_value(store, &scope.filter(), Dimension::Product, None, plan)?;
    Ok(metrics::rank_products(products, sort))
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &ProductsRequest,
    plan: Plan,
) -> Result<Products, ApiError> {
    let rows = ranked(store, &request.scope, request.sort, plan)?;
    let total = rows.len();
    let products = rows
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    Ok(Products { products, total })
}

/// The most viewed product of a filter (see [`metrics::most_viewed`]), for `/api/analytics`.
pub fn top_viewed(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<Option<String>, ApiError> {
    let products = read::sums_by_value(store, filter, Dimension::Product, None, plan)?;
    Ok(metrics::most_viewed(products)
        .into_iter()
        .next()
        .map(|row| row.product_id))
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Products>, ApiError> {
    let request = ProductsRequest::parse(query.as_deref())?;
    let products = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(products))
}
