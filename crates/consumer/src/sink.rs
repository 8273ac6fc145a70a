//! Writing batches to the store (SQLite or PostgreSQL, through the store's write boundary).
//! Store calls block, so they run on the blocking pool; the one writer connection is shared
//! behind a mutex (only one batch is written at a time anyway).

use std::sync::{Arc, Mutex};

use events_core::event::Event;
use events_core::store::{InsertOutcome, StoreError, StoreUrl, Synchronous, WriteBackend};

/// How long a day must go without new events from this consumer before it is rolled up: a
/// backfill of old events fills a past day batch after batch, and each batch makes its day
/// rows stale again.
const ROLL_UP_QUIET: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone)]
pub struct Sink {
    writer: Arc<Mutex<Box<dyn WriteBackend>>>,
}

impl Sink {
    /// Opens the store, applying pending migrations.
    pub async fn open(url: StoreUrl, synchronous: Synchronous) -> Result<Sink, StoreError> {
        let writer = tokio::task::spawn_blocking(move || url.open_writer(synchronous))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(Sink {
            writer: Arc::new(Mutex::new(writer)),
        })
    }

    /// Commits `events` in one transaction; duplicates are skipped. The events are shared, not
    /// moved, so a failed write can be retried with the same batch.
    pub async fn write(&self, events: Arc<[Event]>) -> Result<InsertOutcome, StoreError> {
        self.with_writer(move |writer| writer.insert_batch(&events))
            .await
    }

    /// Deletes raw events and day rows of people older than `days` days (see
    /// `events_core::store::retention`).
    pub async fn apply_retention(
        &self,
        days: u32,
    ) -> Result<events_core::store::retention::Retained, StoreError> {
        self.with_writer(move |writer| {
            writer.apply_retention(chrono::Utc::now().timestamp_micros(), days)
        })
        .await
    }

    /// Rolls up the earliest ended day not rolled up yet (see `events_core::store::days`);
    /// `None` when there is none.
    pub async fn roll_up_next_day(&self) -> Result<Option<i64>, StoreError> {
        self.with_writer(|writer| {
            writer.roll_up_next_day(chrono::Utc::now().timestamp_micros(), ROLL_UP_QUIET)
        })
        .await
    }

    /// Runs `work` on the writer, on the blocking pool.
    async fn with_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn WriteBackend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut writer = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(writer.as_mut())
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
