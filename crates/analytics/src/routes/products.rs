//! `GET /api/v1/products`: products ranked by one metric, paged.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use events_core::dimension::Dimension;
pub use events_core::formulas::ProductSort as Sort;
use events_core::formulas::{self, ProductRow};
use events_core::store::ReadBackend;
use events_core::store::segment::{Segment, narrowed};
use events_core::store::{EventFilter, Plan, read};
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::{Number, Scope};
use crate::query::{Choice, Query};

pub const SORTS: [(&str, Sort); 5] = [
    ("page_views", Sort::PageViews),
    ("add_to_carts", Sort::AddToCarts),
    ("purchases", Sort::Purchases),
    ("revenue", Sort::Revenue),
    ("conversion_rate", Sort::ConversionRate),
];

impl Choice for Sort {
    const CHOICES: &'static [(&'static str, Sort)] = &SORTS;
}

/// `limit`: 1 to 1000.
pub type Limit = Number<1, 1000>;
/// `offset`: 0 to 4294967295.
pub type Offset = Number<0, { u32::MAX as u64 }>;

crate::query_params! {
    /// The query of `GET /api/v1/products`.
    pub struct ProductsRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// The metric to rank by, descending as shown (ties by `product_id`).
        pub sort: Sort = Sort::PageViews,
        /// Products in the page.
        pub limit: Limit = Number(10),
        /// Products skipped before the page.
        pub offset: Offset = Number(0),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Products {
    pub products: Vec<ProductRow>,
    pub total: usize,
}

/// Every product of the scope, ranked (see [`formulas::rank_products`]).
pub fn ranked(
    store: &dyn ReadBackend,
    scope: &Scope,
    filters: &Filters,
    sort: Sort,
    plan: Plan,
) -> Result<Vec<ProductRow>, ApiError> {
    let filters = filters.selection();
    let segment = Segment::new(store, &filters);
    let (store, plan) = narrowed(store, &filters, &segment, plan);
    let products = read::sums_by_value(store, &scope.filter(), Dimension::Product, None, plan)?;
    Ok(formulas::rank_products(products, sort))
}

pub fn compute(
    store: &dyn ReadBackend,
    request: &ProductsRequest,
    plan: Plan,
) -> Result<Products, ApiError> {
    let rows = ranked(store, &request.scope, &request.filters, request.sort, plan)?;
    let total = rows.len();
    let products = rows
        .into_iter()
        .skip(request.offset.get())
        .take(request.limit.get())
        .collect();
    Ok(Products { products, total })
}

/// The most viewed product of a filter (see [`formulas::most_viewed`]), for `/api/analytics`.
pub fn top_viewed(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<Option<String>, ApiError> {
    let products = read::sums_by_value(store, filter, Dimension::Product, None, plan)?;
    Ok(formulas::most_viewed(products)
        .into_iter()
        .next()
        .map(|row| row.product_id))
}

/// Products ranked by one metric, paged.
#[utoipa::path(get, path = "/api/v1/products", operation_id = "products", tag = "analytics", params(ProductsRequest),
    responses((status = 200, description = "A page of the ranking", body = Products), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<ProductsRequest>,
) -> Result<Json<Products>, ApiError> {
    let products = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(products))
}
