//! Backpressure: past `MAX_BACKLOG` unacknowledged events or `MAX_BACKLOG_BYTES` of them in
//! Redis, ingestion answers `503` instead of letting Redis memory grow without bound.
//!
//! The stream's length and memory are read four times a second in the background rather than
//! on every request, so a request costs no extra round trip; in between, each accepted event
//! (and its JSON's bytes) is added to the last reading. Other ingestion instances' events show
//! up at the next reading, so with several instances the limits can be passed by at most a
//! quarter second of their traffic.
//!
//! The bytes are Redis's own `MEMORY USAGE` of the stream (see
//! [`Publisher::backlog`]): a count of events alone let large valid events (about 20 KB each
//! in Redis) grow the default backlog to some 20 GB.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use events_core::transport::{BacklogSize, Publisher};
use tokio_util::sync::CancellationToken;

const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// The last known backlog and the limits.
#[derive(Debug)]
pub struct Backlog {
    events: AtomicU64,
    bytes: AtomicU64,
    limit: BacklogSize,
}

impl Backlog {
    pub fn new(limit: BacklogSize) -> Backlog {
        Backlog {
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            limit,
        }
    }

    /// Whether new events must be refused.
    pub fn is_full(&self) -> bool {
        let current = self.current();
        current.events >= self.limit.events || current.bytes >= self.limit.bytes
    }

    pub fn current(&self) -> BacklogSize {
        BacklogSize {
            events: self.events.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub fn limit(&self) -> BacklogSize {
        self.limit
    }

    /// Counts events just appended, until the next reading.
    pub fn add(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn record(&self, size: BacklogSize) {
        self.events.store(size.events, Ordering::Relaxed);
        self.bytes.store(size.bytes, Ordering::Relaxed);
    }
}

/// Keeps `backlog` current until `stop` is cancelled. While Redis is away the last value
/// stands; publishing fails then anyway.
pub async fn watch(backlog: Arc<Backlog>, publisher: Arc<Publisher>, stop: CancellationToken) {
    loop {
        if let Ok(size) = publisher.backlog().await {
            let was_full = backlog.is_full();
            backlog.record(size);
            metrics::gauge!("stream_backlog").set(size.events as f64);
            metrics::gauge!("stream_backlog_bytes").set(size.bytes as f64);
            match (was_full, backlog.is_full()) {
                (false, true) => tracing::warn!(
                    backlog = size.events,
                    backlog_bytes = size.bytes,
                    limit = backlog.limit.events,
                    limit_bytes = backlog.limit.bytes,
                    "backlog full: refusing events"
                ),
                (true, false) => tracing::info!(
                    backlog = size.events,
                    backlog_bytes = size.bytes,
                    "backlog below the limits again: accepting events"
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

    fn size(events: u64, bytes: u64) -> BacklogSize {
        BacklogSize { events, bytes }
    }

    #[test]
    fn the_backlog_is_full_from_the_limit_on() {
        let backlog = Backlog::new(size(10, 1000));
        assert!(!backlog.is_full());
        backlog.record(size(9, 0));
        assert!(!backlog.is_full());
        backlog.record(size(10, 0));
        assert!(backlog.is_full());
        backlog.record(size(8, 0));
        backlog.add(2, 0);
        assert!(
            backlog.is_full(),
            "accepted events count before the next reading"
        );
    }

    #[test]
    fn the_backlog_is_full_from_the_byte_limit_on() {
        let backlog = Backlog::new(size(10, 1000));
        backlog.record(size(1, 999));
        assert!(!backlog.is_full());
        backlog.add(1, 1);
        assert!(backlog.is_full(), "bytes alone fill it");
    }
}
