//! The batch being filled: pure, so its rules are unit-tested without Redis or a clock.
//!
//! A batch is due when it holds `capacity` items, or `timeout` after its first item arrived,
//! whichever comes first. While the reader is behind (its last read filled all the room it
//! asked for, so more is waiting), a batch may grow to ten times `capacity` (at most
//! [`BACKLOG_ITEMS`]) before it is due: `BATCH_SIZE` and `BATCH_TIMEOUT` bound how long a light
//! trickle waits, not how fast a backlog drains, and every commit and rollup row costs less
//! per event in a larger batch.

use std::time::Duration;

use tokio::time::Instant;

/// The most a batch grows to while the reader is behind, whatever `capacity` is, so that a
/// large `BATCH_SIZE` cannot make the consumer hold millions of events.
pub const BACKLOG_ITEMS: usize = 20_000;

#[derive(Debug)]
pub struct Batch<T> {
    items: Vec<T>,
    capacity: usize,
    timeout: Duration,
    first_at: Option<Instant>,
    behind: bool,
}

impl<T> Batch<T> {
    pub fn new(capacity: usize, timeout: Duration) -> Batch<T> {
        Batch {
            items: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
            timeout,
            first_at: None,
            behind: false,
        }
    }

    /// Tells the batch whether the reader is behind: whether its last read filled all the
    /// room it asked for.
    pub fn set_behind(&mut self, behind: bool) {
        self.behind = behind;
    }

    /// How many items make the batch full now.
    fn limit(&self) -> usize {
        if self.behind {
            (self.capacity * 10).min(BACKLOG_ITEMS).max(self.capacity)
        } else {
            self.capacity
        }
    }

    /// Adds an item that arrived at `now`.
    pub fn push(&mut self, item: T, now: Instant) {
        if self.items.is_empty() {
            self.first_at = Some(now);
        }
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many more items fit before the batch is full.
    pub fn room(&self) -> usize {
        self.limit().saturating_sub(self.items.len())
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.limit()
    }

    /// When the batch must be flushed by, if it holds anything.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|first| first + self.timeout)
    }

    /// Full, or past its deadline.
    pub fn is_due(&self, now: Instant) -> bool {
        self.is_full() || self.deadline().is_some_and(|deadline| now >= deadline)
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Empties the batch, returning what it held.
    pub fn take(&mut self) -> Vec<T> {
        self.first_at = None;
        std::mem::replace(&mut self.items, Vec::with_capacity(self.capacity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_when_full() {
        let now = Instant::now();
        let mut batch = Batch::new(2, Duration::from_secs(5));
        batch.push(1, now);
        assert!(!batch.is_due(now));
        assert_eq!(batch.room(), 1);
        batch.push(2, now);
        assert!(batch.is_full());
        assert!(batch.is_due(now));
        assert_eq!(batch.take(), vec![1, 2]);
        assert!(batch.is_empty());
        assert_eq!(batch.deadline(), None);
    }

    #[test]
    fn a_batch_grows_to_ten_times_its_size_while_the_reader_is_behind() {
        let now = Instant::now();
        let mut batch = Batch::new(2, Duration::from_secs(5));
        batch.push(1, now);
        batch.push(2, now);
        batch.set_behind(true);
        assert!(!batch.is_full());
        assert_eq!(batch.room(), 18);
        for item in 3..=20 {
            batch.push(item, now);
        }
        assert!(batch.is_due(now));
        // Caught up: the ordinary size again.
        batch.take();
        batch.set_behind(false);
        batch.push(1, now);
        batch.push(2, now);
        assert!(batch.is_full());
        // A large size is capped.
        let mut large: Batch<u8> = Batch::new(100_000, Duration::from_secs(5));
        large.set_behind(true);
        assert_eq!(large.room(), 100_000);
        let mut small: Batch<u8> = Batch::new(5_000, Duration::from_secs(5));
        small.set_behind(true);
        assert_eq!(small.room(), BACKLOG_ITEMS);
    }

    #[test]
    fn a_batch_is_due_its_timeout_after_the_first_item() {
        let start = Instant::now();
        let mut batch = Batch::new(100, Duration::from_secs(5));
        assert_eq!(batch.deadline(), None);
        assert!(
            !batch.is_due(start + Duration::from_secs(60)),
            "an empty batch is never due"
        );
        batch.push("a", start);
        batch.push("b", start + Duration::from_secs(4));
        assert_eq!(batch.deadline(), Some(start + Duration::from_secs(5)));
        assert!(!batch.is_due(start + Duration::from_millis(4999)));
        assert!(batch.is_due(start + Duration::from_secs(5)));
    }

    #[test]
    fn the_timeout_restarts_with_the_next_batch() {
        let start = Instant::now();
        let mut batch = Batch::new(100, Duration::from_secs(5));
        batch.push(1, start);
        batch.take();
        batch.push(2, start + Duration::from_secs(10));
        assert_eq!(batch.deadline(), Some(start + Duration::from_secs(15)));
    }
}
