//! `GET /api/v1/live`: server-sent events telling the dashboard when to refresh.
//!
//! One watcher thread per service (not per client) polls the store's commit counter every
//! 250 ms and broadcasts what became visible; so a client gets at most four `stored` events a
//! second, each coalescing every commit since the last. A comment line every 15 s keeps
//! proxies from closing an idle stream. Streams end when the service shuts down, so a
//! graceful shutdown does not wait for clients that never hang up.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use events_core::store::live::{CommitWatcher, Stored};
use events_core::store::pg::live::PgCommitWatcher;
use events_core::store::{StoreError, StoreUrl};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::AppState;
use crate::error::ApiError;
use crate::params::ShopQuery;
use crate::query::Query;

/// How often the watcher looks for commits.
pub const POLL: Duration = Duration::from_millis(250);
/// How often an idle stream gets a comment line.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// SQLite's commit counter, or PostgreSQL's per-shop totals.
enum Watcher {
    Sqlite(CommitWatcher),
    Postgres(PgCommitWatcher),
}

impl Watcher {
    fn open(url: &StoreUrl) -> Result<Watcher, StoreError> {
        Ok(match url {
            StoreUrl::Sqlite(path) => Watcher::Sqlite(CommitWatcher::open(path)?),
            StoreUrl::Postgres(url) => Watcher::Postgres(PgCommitWatcher::open(url)?),
        })
    }

    fn poll(&mut self) -> Result<Option<Stored>, StoreError> {
        match self {
            Watcher::Sqlite(watcher) => watcher.poll(),
            Watcher::Postgres(watcher) => watcher.poll(),
        }
    }
}

/// Starts the watcher on a blocking thread of `tasks` (its reads of the store block; it is
/// opened there too, since PostgreSQL's synchronous client cannot run on the async runtime);
/// returns once it is open, and it stops within one poll of `stop` being cancelled.
pub async fn start_watcher(
    url: StoreUrl,
    sender: broadcast::Sender<Stored>,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), StoreError> {
    let (opened, open_result) = tokio::sync::oneshot::channel();
    tasks.spawn_blocking(move || {
        let mut watcher = match Watcher::open(&url) {
            Ok(watcher) => {
                let _ = opened.send(Ok(()));
                watcher
            }
            Err(error) => {
                let _ = opened.send(Err(error));
                return;
            }
        };
        while !stop.is_cancelled() {
            std::thread::sleep(POLL);
            match watcher.poll() {
                // No subscriber is not an error: nobody is watching right now.
                Ok(Some(stored)) => drop(sender.send(stored)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "the live watcher could not read the store")
                }
            }
        }
    });
    open_result.await.unwrap_or_else(|_| {
        Err(StoreError::Task(
            "the live watcher stopped before it started".to_owned(),
        ))
    })
}

/// Server-sent events telling the dashboard when to refresh: an event `stored`
/// (`{"count": n, "shop_ids": [...]}`) whenever newly committed events become visible, at most
/// four a second; a comment line every 15 s. The read key may also come as `?key=`.
#[utoipa::path(get, path = "/api/v1/live", operation_id = "live", tag = "analytics", params(ShopQuery),
    security(("read_key" = []), ("read_key_in_query" = [])),
    responses((status = 200, description = "A stream that ends when the service stops", content_type = "text/event-stream", body = String), crate::openapi::QueryErrors))]
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ShopQuery>,
) -> Result<Response, ApiError> {
    let shop_id = query.shop_id();
    // Held by the stream: it is given back when the client goes or the stream ends.
    let slot = state.live_streams.acquire().await?;
    let receiver = state.live.subscribe();
    let events = futures_util::stream::unfold((receiver, slot), move |(mut receiver, slot)| {
        let shop_id = shop_id.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(stored) => {
                        let stored = match &shop_id {
                            Some(shop) => match stored.for_shop(shop) {
                                Some(mine) => mine,
                                None => continue,
                            },
                            None => stored,
                        };
                        let data = json!({"shop_ids": stored.shop_ids(), "count": stored.count()});
                        let event = Event::default().event("stored").data(data.to_string());
                        let next = (receiver, slot);
                        return Some((Ok::<_, std::convert::Infallible>(event), next));
                    }
                    // A slow client missed some notices; the next one still tells it to refresh.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
    .take_until(state.shutdown.clone().cancelled_owned());
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}
