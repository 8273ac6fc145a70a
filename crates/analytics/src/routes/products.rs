//! `GET /api/v1/products`: products ranked by one metric, paged.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::money;
use events_core::store::aggregates::{self, Plan, ProductTotals};
use rusqlite::Connection;
use serde::Serialize;

use super::{PLAN, answer};
use crate::AppState;
use crate::error::ApiError;
use crate::params::{QueryParams, SCOPE_PARAMS, Scope, parse_choice, parse_number};

/// What products can be ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    PageViews,
    AddToCarts,
    Purchases,
    Revenue,
    ConversionRate,
}

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
        let names = [&SCOPE_PARAMS[..], &["sort", "limit", "offset"]].concat();
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductRow {
    pub product_id: String,
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub conversion_rate: f64,
}

impl ProductRow {
    fn from_totals(totals: ProductTotals) -> ProductRow {
        ProductRow {
            revenue: money::micros_round2(totals.revenue_micros),
            conversion_rate: money::percent(totals.purchases, totals.page_views),
            product_id: totals.product_id,
            page_views: totals.page_views,
            add_to_carts: totals.add_to_carts,
            purchases: totals.purchases,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Products {
    pub products: Vec<ProductRow>,
    pub total: usize,
}

/// Every product of the scope, ranked: descending by the value shown (so products that look
/// tied are tied), then by `product_id` ascending in byte order.
pub fn ranked(
    connection: &Connection,
    scope: &Scope,
    sort: Sort,
    plan: Plan,
) -> Result<Vec<ProductRow>, ApiError> {
    let totals = aggregates::product_totals(connection, &scope.filter(), None, plan)?;
    let mut rows: Vec<ProductRow> = totals.into_iter().map(ProductRow::from_totals).collect();
    rows.sort_by(|a, b| {
        by_metric(b, a, sort).then_with(|| a.product_id.as_bytes().cmp(b.product_id.as_bytes()))
    });
    Ok(rows)
}

fn by_metric(a: &ProductRow, b: &ProductRow, sort: Sort) -> Ordering {
    match sort {
        Sort::PageViews => a.page_views.cmp(&b.page_views),
        Sort::AddToCarts => a.add_to_carts.cmp(&b.add_to_carts),
        Sort::Purchases => a.purchases.cmp(&b.purchases),
        Sort::Revenue => a.revenue.total_cmp(&b.revenue),
        Sort::ConversionRate => a.conversion_rate.total_cmp(&b.conversion_rate),
    }
}

pub fn compute(
    connection: &Connection,
    request: &ProductsRequest,
    plan: Plan,
) -> Result<Products, ApiError> {
    let rows = ranked(connection, &request.scope, request.sort, plan)?;
    let total = rows.len();
    let products = rows
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    Ok(Products { products, total })
}

/// The most viewed product of a filter (ties: the smallest id), for `/api/analytics`.
pub fn top_viewed(
    connection: &Connection,
    filter: &events_core::store::EventFilter,
    plan: Plan,
) -> Result<Option<String>, ApiError> {
    let totals = aggregates::product_totals(connection, filter, None, plan)?;
    Ok(totals
        .into_iter()
        .filter(|p| p.page_views > 0)
        .min_by(|a, b| {
            b.page_views
                .cmp(&a.page_views)
                .then_with(|| a.product_id.as_bytes().cmp(b.product_id.as_bytes()))
        })
        .map(|p| p.product_id))
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Products>, ApiError> {
    let request = ProductsRequest::parse(query.as_deref())?;
    let products = answer(&state, move |c| compute(c, &request, PLAN)).await?;
    Ok(Json(products))
}
