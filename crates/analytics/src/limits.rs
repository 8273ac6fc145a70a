//! How much work analytics takes on at once (docs/SECURITY.md): at most `MAX_QUERIES` queries run, a
//! request waits at most [`QUEUE_WAIT`] for its turn and is then answered `503` with
//! `Retry-After`; at most `MAX_LIVE_STREAMS` `/api/v1/live` streams are open.
//!
//! Without a limit, 64 concurrent heavy queries each took a blocking thread and a connection
//! with its own page cache, and analytics grew to 1.7 GB. A permit is held by the request's
//! future, so a client that hangs up gives its place back, and the store stops its query
//! (see `ReadPool::run`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The longest a request waits for a query slot.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The default of `MAX_QUERIES`: twice the cores, so one core's worth of queries can wait on
/// the disk while the other computes.
pub fn default_max_queries() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// The default of `MAX_LIVE_STREAMS`.
pub const DEFAULT_MAX_LIVE_STREAMS: usize = 1000;

/// A bounded number of slots and how long to wait for one.
pub struct Slots {
    permits: Arc<Semaphore>,
    wait: Duration,
    what: &'static str,
}

impl Slots {
    pub fn new(count: usize, wait: Duration, what: &'static str) -> Slots {
        Slots {
            permits: Arc::new(Semaphore::new(count)),
            wait,
            what,
        }
    }

    /// A slot, waiting up to the configured time; `503` + `Retry-After` after that.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let waited =
            tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("analytics_busy_total", "limit" => self.what).increment(1);
                Err(ApiError::Busy {
                    what: self.what,
                    retry_after: Duration::from_secs(5),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[tokio::test]
    async fn a_request_waits_its_turn_then_is_told_to_retry() {
        let slots = Slots::new(1, Duration::from_millis(50), "queries");
        let held = slots.acquire().await.expect("a free slot");
        let refused = slots.acquire().await.expect_err("no slot");
        let response = refused.into_response();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        drop(held);
        assert!(slots.acquire().await.is_ok(), "a slot given back is reused");
    }
}
