//! `GET /api/v1/export`: CSV of the raw events, the product ranking or the time series, with
//! the same filters as the JSON endpoints.
//!
//! `dataset=events` streams: a blocking task walks the rows in time order and hands the body
//! chunks of about 32 KiB through a channel of a few chunks, so memory stays flat however many
//! rows match, and a client that goes away stops the walk.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use events_core::attribution::Filters as Selection;
use events_core::store::pg::PgReadPool;
use events_core::store::sqlite_segment::selection_sql;
use events_core::store::{EventFilter, ReadBackend, StoreError, StoreReader};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tokio::sync::mpsc;

use super::products::{self, Sort};
use super::timeseries::{self, TimeseriesRequest};
use super::{PLAN, answer};
use crate::AppState;
use crate::calendar::Interval;
use crate::csv;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::params::Scope;
use crate::query::{Choice, Query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Events,
    Products,
    Timeseries,
}

impl Choice for Dataset {
    const CHOICES: &'static [(&'static str, Dataset)] = &[
        ("events", Dataset::Events),
        ("products", Dataset::Products),
        ("timeseries", Dataset::Timeseries),
    ];
}

crate::query_params! {
    /// The query of `GET /api/v1/export`.
    @check = ExportRequest::options_of_dataset;
    pub struct ExportRequest {
        pub scope: Scope,
        pub filters: Filters,
        /// What the CSV holds: the raw events, the product ranking or the time series.
        pub dataset: Dataset = Dataset::Events,
        /// Only with `dataset=timeseries` (default `day`).
        pub interval: Option<Interval>,
        /// Only with `dataset=products` (default `page_views`).
        pub sort: Option<Sort>,
    }
}

impl ExportRequest {
    /// `interval` and `sort` belong to one dataset each.
    fn options_of_dataset(request: ExportRequest) -> Result<ExportRequest, ApiError> {
        for (name, given, owner) in [
            ("interval", request.interval.is_some(), Dataset::Timeseries),
            ("sort", request.sort.is_some(), Dataset::Products),
        ] {
            if given && request.dataset != owner {
                return Err(ApiError::bad(name, "only applies to another dataset"));
            }
        }
        Ok(request)
    }
}

const CHUNK_BYTES: usize = 32 * 1024;
const EVENT_HEADER: &str = "event_id,event_type,timestamp,shop_id,product_id,order_amount,currency,quantity,order_id,session_id,visitor_id,path,referrer,received_at";

/// CSV of the raw events (streamed), the product ranking or the time series.
#[utoipa::path(get, path = "/api/v1/export", operation_id = "export", tag = "analytics", params(ExportRequest),
    responses((status = 200, description = "A CSV file with a header row, CRLF line ends",
        content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"<dataset>.csv\"`"))),
        crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(request): Query<ExportRequest>,
) -> Result<Response, ApiError> {
    let ExportRequest {
        scope,
        filters,
        dataset,
        interval,
        sort,
    } = request;
    let (body, name) = match dataset {
        Dataset::Events => (
            stream_events(&state, scope.filter(), filters.selection()).await?,
            "events",
        ),
        Dataset::Products => {
            let sort = sort.unwrap_or(Sort::PageViews);
            let csv = answer(&state, move |c| products_csv(c, &scope, &filters, sort)).await?;
            (Body::from(csv), "products")
        }
        Dataset::Timeseries => {
            let request = TimeseriesRequest::checked(TimeseriesRequest {
                scope,
                filters,
                interval: interval.unwrap_or(Interval::Day),
            })?;
            let csv = answer(&state, move |c| timeseries_csv(c, &request)).await?;
            (Body::from(csv), "timeseries")
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn products_csv(
    connection: &dyn ReadBackend,
    scope: &Scope,
    filters: &Filters,
    sort: Sort,
) -> Result<String, ApiError> {
    let mut out = csv::line(&[
        "product_id".into(),
        "page_views".into(),
        "add_to_carts".into(),
        "purchases".into(),
        "revenue".into(),
        "conversion_rate".into(),
    ]);
    for row in products::ranked(connection, scope, filters, sort, PLAN)? {
        out.push_str(&csv::line(&[
            csv::text(&row.product_id),
            row.page_views.to_string(),
            row.add_to_carts.to_string(),
            row.purchases.to_string(),
            row.revenue.to_string(),
            row.conversion_rate.to_string(),
        ]));
    }
    Ok(out)
}

fn timeseries_csv(
    connection: &dyn ReadBackend,
    request: &TimeseriesRequest,
) -> Result<String, ApiError> {
    let mut out = csv::line(&[
        "t".into(),
        "page_views".into(),
        "add_to_carts".into(),
        "purchases".into(),
        "revenue".into(),
        "visitors".into(),
    ]);
    for point in timeseries::compute(connection, request, PLAN)?.points {
        out.push_str(&csv::line(&[
            point.t,
            point.page_views.to_string(),
            point.add_to_carts.to_string(),
            point.purchases.to_string(),
            point.revenue.to_string(),
            point.visitors.to_string(),
        ]));
    }
    Ok(out)
}

type Chunk = Result<Bytes, std::io::Error>;

/// The events CSV as a body that is written while it is sent.
async fn stream_events(
    state: &AppState,
    filter: EventFilter,
    selection: Selection,
) -> Result<Body, ApiError> {
    // A query slot, held until the last row is written or the client has gone.
    let slot = state.queries.acquire().await?;
    let (sender, receiver) = mpsc::channel::<Chunk>(4);
    let store = state.store.clone();
    state.tasks.spawn(async move {
        let _slot = slot;
        let failed = sender.clone();
        let result = match store {
            StoreReader::Sqlite(pool) => {
                pool.run(move |c| write_events(c, &filter, &selection, &sender))
                    .await
            }
            StoreReader::Postgres(pool) => tokio::task::spawn_blocking(move || {
                write_pg_events(&pool, &filter, &selection, &sender)
            })
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string()))),
        };
        if let Err(error) = result {
            tracing::error!(%error, "the events export failed part way");
            // Ending the body with an error tells the client the file is incomplete.
            let _ = failed
                .send(Err(std::io::Error::other("export failed")))
                .await;
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok(Body::from_stream(chunks))
}

/// Walks the matching events in time order (then arrival), sending CSV chunks; stops quietly
/// when the client has gone. Bots are never exported; with filters, only the events of the
/// sessions they select (store::sqlite_segment).
fn write_events(
    connection: &Connection,
    filter: &EventFilter,
    filters: &Selection,
    sender: &mpsc::Sender<Chunk>,
) -> Result<(), StoreError> {
    const COLUMNS: &str = "event_id, event_type, timestamp, shop_id, product_id, amount_micros, \
        currency, quantity, order_id, session_id, visitor_id, path, referrer, received_at";
    let (sql, params) = if filters.is_empty() {
        let (conditions, params) = filter.sql_conditions();
        // The index named gives time order itself, so SQLite sorts only the events of one
        // microsecond by id, never (and never holds) the whole result.
        let index = if filter.shop_id.is_some() {
            "events_shop_time"
        } else {
            "events_time_people"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM events INDEXED BY {index} WHERE 1 = 1{conditions}
             ORDER BY ts_micros, id"
        );
        (sql, params)
    } else {
        let (selection, params) = selection_sql(filter, filters);
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("e.{c}")).collect();
        let sql = format!(
            "SELECT {} {selection} ORDER BY e.ts_micros, e.id",
            columns.join(", ")
        );
        (sql, params)
    };
    let mut statement = connection.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut buffer = String::with_capacity(CHUNK_BYTES + 1024);
    buffer.push_str(EVENT_HEADER);
    buffer.push_str("\r\n");
    while let Some(row) = rows.next()? {
        // Any stored type is written, so rows imported from the original never stop an export.
        let text = |i: usize| -> Result<String, StoreError> {
            Ok(match row.get_ref(i)? {
                ValueRef::Text(bytes) => csv::text(&String::from_utf8_lossy(bytes)),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(x) => x.to_string(),
                ValueRef::Null | ValueRef::Blob(_) => String::new(),
            })
        };
        let amount: Option<i64> = row.get(5)?;
        buffer.push_str(&csv::line(&[
            text(0)?,
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            amount.map(csv::micros).unwrap_or_default(),
            text(6)?,
            text(7)?,
            text(8)?,
            text(9)?,
            text(10)?,
            text(11)?,
            text(12)?,
            text(13)?,
        ]));
        if buffer.len() >= CHUNK_BYTES {
            let chunk = Bytes::from(std::mem::take(&mut buffer));
            if sender.blocking_send(Ok(chunk)).is_err() {
                return Ok(());
            }
        }
    }
    if !buffer.is_empty() {
        let _ = sender.blocking_send(Ok(Bytes::from(buffer)));
    }
    Ok(())
}

/// The same CSV from PostgreSQL.
fn write_pg_events(
    pool: &PgReadPool,
    filter: &EventFilter,
    filters: &Selection,
    sender: &mpsc::Sender<Chunk>,
) -> Result<(), StoreError> {
    let mut buffer = String::with_capacity(CHUNK_BYTES + 1024);
    buffer.push_str(EVENT_HEADER);
    buffer.push_str("\r\n");
    let mut gone = false;
    pool.export_events(filter, filters, &mut |cells, amount| {
        let text = |i: usize| cells[i].map(csv::text).unwrap_or_default();
        buffer.push_str(&csv::line(&[
            text(0),
            text(1),
            text(2),
            text(3),
            text(4),
            amount.map(csv::micros).unwrap_or_default(),
            text(5),
            text(6),
            text(7),
            text(8),
            text(9),
            text(10),
            text(11),
            text(12),
        ]));
        if buffer.len() >= CHUNK_BYTES {
            let chunk = Bytes::from(std::mem::take(&mut buffer));
            gone = sender.blocking_send(Ok(chunk)).is_err();
        }
        !gone
    })?;
    if !buffer.is_empty() && !gone {
        let _ = sender.blocking_send(Ok(Bytes::from(buffer)));
    }
    Ok(())
}
