//! `GET /api/analytics`: the original eight metrics, narrowed by `shop_id`, `from`, `to`, `tz`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use events_core::metrics::OriginalMetrics;
use events_core::store::queries;

use crate::AppState;
use crate::error::ApiError;
use crate::params::{QueryParams, TimeRange, event_filter, parse_shop_id};

pub async fn analytics(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<OriginalMetrics>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["shop_id", "from", "to", "tz"])?;
    let filter = event_filter(parse_shop_id(&params)?, &TimeRange::parse(&params)?);
    let metrics = state
        .store
        .run(move |connection| {
            // One read transaction, so the counts and the top product see the same commit.
            let snapshot = connection.unchecked_transaction()?;
            let totals = queries::event_totals(&snapshot, &filter)?;
            let top_product = queries::top_viewed_product(&snapshot, &filter)?;
            Ok(OriginalMetrics::compute(&totals, top_product))
        })
        .await?;
    Ok(Json(metrics))
}
