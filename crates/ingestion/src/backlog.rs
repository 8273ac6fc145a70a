//! Backpressure: past `MAX_BACKLOG` unacknowledged events, ingestion answers `503` instead of
//! letting Redis memory grow without bound.
//!
//! The stream's length is read four times a second in the background rather than on every
//! request, so a request costs no extra round trip; in between, each accepted event is added
//! to the last reading. Other ingestion instances' events show up at the next reading, so
//! with several instances the limit can be passed by at most a quarter second of their
//! traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use events_core::transport::Publisher;
use tokio_util::sync::CancellationToken;

const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// The last known backlog and the limit.
#[derive(Debug)]
pub struct Backlog {
    current: AtomicU64,
    limit: u64,
}

impl Backlog {
    pub fn new(limit: u64) -> Backlog {
        Backlog {
            current: AtomicU64::new(0),
            limit,
        }
    }

    /// Whether new events must be refused.
    pub fn is_full(&self) -> bool {
        self.current.load(Ordering::Relaxed) >= self.limit
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Counts events just appended, until the next reading.
    pub fn add(&self, events: u64) {
        self.current.fetch_add(events, Ordering::Relaxed);
    }

    fn record(&self, length: u64) {
        self.current.store(length, Ordering::Relaxed);
    }
}

/// Keeps `backlog` current until `stop` is cancelled. While Redis is away the last value
/// stands; publishing fails then anyway.
pub async fn watch(backlog: Arc<Backlog>, publisher: Arc<Publisher>, stop: CancellationToken) {
    loop {
        if let Ok(length) = publisher.backlog().await {
            let was_full = backlog.is_full();
            backlog.record(length);
            metrics::gauge!("stream_backlog").set(length as f64);
            match (was_full, backlog.is_full()) {
                (false, true) => tracing::warn!(
                    backlog = length,
                    limit = backlog.limit,
                    "backlog full: refusing events"
                ),
                (true, false) => tracing::info!(
                    backlog = length,
                    "backlog below the limit again: accepting events"
                ),
                _ => {}
            }
        }
        tokio::select! {
            () = tokio::time::sleep(REFRESH_INTERVAL) => {}
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_full_from_the_limit_on() {
        let backlog = Backlog::new(10);
        assert!(!backlog.is_full());
        backlog.record(9);
        assert!(!backlog.is_full());
        backlog.record(10);
        assert!(backlog.is_full());
        backlog.record(8);
        backlog.add(2);
        assert!(
            backlog.is_full(),
            "accepted events count before the next reading"
        );
    }
}
