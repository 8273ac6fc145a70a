//! The consumer's side of the store: one transaction per batch, idempotent, so that a batch
//! replayed after a crash (read again because it was never acknowledged) changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::grain::{ALL_SHOPS, day_of};
use super::{StoreError, Synchronous, attribution, days, rollups, session_spans};
use domain::event::{Event, format_utc};
use domain::people::fingerprint;

/// The writer folds the raw rows past the rollups' watermark into them (see
/// [`rollups`](super::rollups)) once this many are waiting…
pub const FOLD_ROWS: usize = 10_000;

/// …or this long after its last fold, so that a trickle is folded within a second.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// What a committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub inserted: usize,
    /// Events already stored (same `event_id`, or a purchase of an order already counted).
    pub duplicates: usize,
}

/// The single writing connection.
pub struct Writer {
    connection: Connection,
    /// The store's path and the file it named when opened (device and inode): SQLite keeps
    /// writing into a file deleted or replaced under it, and those commits would be lost.
    path: PathBuf,
    file: FileId,
    /// When this writer last stored events into each UTC day (see `roll_up_next_day`).
    written_days: HashMap<i64, Instant>,
    /// Rows inserted since the last fold, and when that was (`None`: not since opening).
    unfolded: usize,
    last_fold: Option<Instant>,
    fold_rows: usize,
}

impl Writer {
    /// Opens the store for writing with the default durability, applying pending migrations.
    pub fn open(path: &Path) -> Result<Writer, StoreError> {
        Writer::open_with(path, Synchronous::default())
    }

    /// Opens the store for writing with the given durability, applying pending migrations.
    pub fn open_with(path: &Path, synchronous: Synchronous) -> Result<Writer, StoreError> {
        let connection = super::open_and_migrate(path, synchronous)?;
        Ok(Writer {
            file: file_id(path)?,
            path: path.to_owned(),
            connection,
            written_days: HashMap::new(),
            unfolded: 0,
            last_fold: None,
            fold_rows: FOLD_ROWS,
        })
    }

    /// Folds once `rows` are waiting instead of [`FOLD_ROWS`] (`0`: with every batch), for
    /// tests that want the rollups and the unfolded tail in given proportions.
    pub fn set_fold_rows(&mut self, rows: usize) {
        self.fold_rows = rows;
    }

    /// Stores a batch in one transaction. Events already stored are skipped silently: the
    /// unique `(shop_id, event_id)` and the unique `(shop_id, order_id)` of purchases make the
    /// insert idempotent. The inserted rows update their sessions' attribution and their
    /// visitors' first times, once per session and visitor ([`attribution`]), and move the
    /// rollups of the sessions they take over. When a fold is due, the rollups take every row waiting, in the same
    /// transaction; the day rows of people of every day the batch adds to are deleted in it.
    pub fn insert_batch(&mut self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        self.check_file()?;
        let transaction = self.connection.transaction()?;
        let mut outcome = InsertOutcome::default();
        let mut touched_days: Vec<(&str, i64)> = Vec::new();
        let mut session_days: Vec<(u64, i64)> = Vec::new();
        let mut stored: Vec<(&Event, i64)> = Vec::with_capacity(events.len());
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO events (
                    event_id, event_type, timestamp, ts_micros, product_id, order_amount,
                    amount_micros, shop_id, session_id, visitor_id, path, referrer, currency,
                    quantity, order_id, sent_at, received_at, referrer_domain, source, medium,
                    campaign, channel, device, browser, os, country, is_bot
                ) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )?;
            for event in events {
                let changed = insert.execute(params![
                    event.event_id,
                    event.event_type.as_str(),
                    format_utc(&event.timestamp),
                    event.timestamp.timestamp_micros(),
                    event.product_id,
                    event.order_amount,
                    event.amount_micros(),
                    event.shop_id,
                    event.session_id,
                    event.visitor_id,
                    event.path,
                    event.referrer,
                    event.currency,
                    event.quantity,
                    event.order_id,
                    event.sent_at.as_ref().map(format_utc),
                    format_utc(&event.received_at),
                    event.traffic.referrer_domain,
                    event.traffic.source,
                    event.traffic.medium,
                    event.traffic.campaign,
                    event.traffic.channel,
                    event.traffic.device,
                    event.traffic.browser,
                    event.traffic.os,
                    event.traffic.country,
                    event.traffic.is_bot,
                ])?;
                if changed == 1 {
                    outcome.inserted += 1;
                    stored.push((event, transaction.last_insert_rowid()));
                    let day = day_of(event.timestamp.timestamp_micros());
                    touched_days.extend([(event.shop_id.as_str(), day), (ALL_SHOPS, day)]);
                    if let Some(session) = &event.session_id {
                        session_days.push((fingerprint(session), day));
                    }
                } else {
                    outcome.duplicates += 1;
                }
            }
        }
        // The rows past the watermark are folded later, with the attribution of then.
        attribution::record_batch(&transaction, &stored, rollups::watermark(&transaction)?)?;
        touched_days.sort_unstable();
        touched_days.dedup();
        days::forget_days(&transaction, &touched_days)?;
        // A session folded as contained in its day that now has an event on another day
        // makes that day's rows stale.
        let stale = session_spans::record(&transaction, &session_days)?;
        days::forget_whole_days(&transaction, &stale)?;
        self.unfolded += outcome.inserted;
        let fold_due = self.unfolded >= self.fold_rows
            || self
                .last_fold
                .is_none_or(|last| last.elapsed() >= FOLD_INTERVAL);
        if fold_due {
            rollups::fold(&transaction)?;
        }
        transaction.commit()?;
        if fold_due {
            self.folded();
        }
        let now = Instant::now();
        for (_, day) in touched_days.iter().filter(|(shop, _)| *shop == ALL_SHOPS) {
            self.written_days.insert(*day, now);
        }
        Ok(outcome)
    }

    /// Notes a committed fold: nothing waits, and the next is due a [`FOLD_INTERVAL`] from now.
    fn folded(&mut self) {
        self.unfolded = 0;
        self.last_fold = Some(Instant::now());
    }

    /// Fails while the store's path no longer names the file this writer opened (deleted, or
    /// replaced by another): nothing it commits would be found there again.
    fn check_file(&self) -> Result<(), StoreError> {
        match file_id(&self.path) {
            Ok(file) if file == self.file => Ok(()),
            Ok(_) => Err(StoreError::FileGone(format!(
                "{} was replaced by another file while the consumer had it open; restart it",
                self.path.display()
            ))),
            Err(_) => Err(StoreError::FileGone(format!(
                "{} was deleted while the consumer had it open; restore it and restart",
                self.path.display()
            ))),
        }
    }

    /// Deletes the raw events and day rows of people older than `days` days (see
    /// [`retention`](super::retention)); the rollups keep their sums.
    pub fn apply_retention(
        &mut self,
        now_micros: i64,
        days: u32,
    ) -> Result<super::retention::Retained, StoreError> {
        self.check_file()?;
        let retained = super::retention::apply(&mut self.connection, now_micros, days)?;
        self.folded();
        Ok(retained)
    }

    /// Rolls up the earliest ended day that is not rolled up yet (see `store::days`), in its
    /// own transaction; returns that day's start, or `None` when there is nothing to do.
    ///
    /// Days this writer stored events into during the last `quiet` wait: each insert deletes
    /// the day's rows again, so rolling up a day that is being filled (a backfill of old
    /// events) would redo its whole work every time.
    pub fn roll_up_next_day(
        &mut self,
        now_micros: i64,
        quiet: Duration,
    ) -> Result<Option<i64>, StoreError> {
        self.check_file()?;
        self.written_days
            .retain(|_, written| written.elapsed() < quiet);
        let busy: BTreeSet<i64> = self.written_days.keys().copied().collect();
        // The days with events are read from the rollups: fold what is waiting first.
        let transaction = self.connection.transaction()?;
        rollups::fold(&transaction)?;
        transaction.commit()?;
        self.folded();
        days::roll_up_next_day(&mut self.connection, now_micros, &busy)
    }
}

/// A file's device and inode.
type FileId = (u64, u64);

fn file_id(path: &Path) -> Result<FileId, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)
        .map_err(|error| StoreError::FileGone(format!("{}: {error}", path.display())))?;
    Ok((metadata.dev(), metadata.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: serde_json::Value) -> Event {
        Event::from_json(value, chrono::Utc::now(), domain::event::new_event_id)
            .expect("valid event")
    }

    fn count(writer: &Writer) -> i64 {
        writer
            .connection
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("counts")
    }

    #[test]
    fn a_day_being_written_to_waits_to_be_rolled_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = Writer::open(&dir.path().join("a.db")).expect("opens");
        let batch = vec![event(
            json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"}),
        )];
        writer.insert_batch(&batch).expect("stores");
        let now = chrono::Utc::now().timestamp_micros();
        let hour = Duration::from_secs(3600);
        assert_eq!(writer.roll_up_next_day(now, hour).expect("rolls up"), None);
        let day: chrono::DateTime<chrono::Utc> = "2025-10-02T00:00:00Z".parse().expect("day");
        assert_eq!(
            writer
                .roll_up_next_day(now, Duration::ZERO)
                .expect("rolls up"),
            Some(day.timestamp_micros())
        );
        assert_eq!(
            writer
                .roll_up_next_day(now, Duration::ZERO)
                .expect("rolls up"),
            None
        );
    }

    #[test]
    fn a_store_deleted_or_replaced_under_the_writer_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let batch = vec![event(
            json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"}),
        )];
        writer.insert_batch(&batch).expect("stores");
        std::fs::remove_file(&path).expect("deletes");
        let error = writer.insert_batch(&batch).expect_err("refused");
        assert!(
            error.is_store_failure() && error.to_string().contains("deleted"),
            "{error}"
        );
        drop(Writer::open(&path).expect("another store at the same path"));
        let error = writer.insert_batch(&batch).expect_err("refused");
        assert!(error.to_string().contains("replaced"), "{error}");
    }

    #[test]
    fn a_replayed_batch_is_stored_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = Writer::open(&dir.path().join("a.db")).expect("opens");
        let batch = vec![
            event(
                json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "event_id": "a"}),
            ),
            event(
                json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "event_id": "b"}),
            ),
        ];
        assert_eq!(
            writer.insert_batch(&batch).expect("stores"),
            InsertOutcome {
                inserted: 2,
                duplicates: 0
            }
        );
        assert_eq!(
            writer.insert_batch(&batch).expect("stores"),
            InsertOutcome {
                inserted: 0,
                duplicates: 2
            }
        );
        assert_eq!(count(&writer), 2);
    }

    /// One shop cannot squat another's event ids: they are unique per shop.
    #[test]
    fn an_event_id_is_unique_per_shop_not_across_shops() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = Writer::open(&dir.path().join("a.db")).expect("opens");
        let view = |shop: &str| {
            event(
                json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
                "event_id": "same", "shop_id": shop}),
            )
        };
        let outcome = writer
            .insert_batch(&[view("victim"), view("other"), view("victim")])
            .expect("stores");
        assert_eq!(
            outcome,
            InsertOutcome {
                inserted: 2,
                duplicates: 1
            }
        );
    }

    #[test]
    fn an_order_is_counted_once_per_shop_whatever_its_event_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = Writer::open(&dir.path().join("a.db")).expect("opens");
        let purchase = |shop: &str| {
            event(
                json!({"event_type": "purchase", "timestamp": "2025-10-02T10:30:00Z",
                "order_amount": 5, "order_id": "o-1", "shop_id": shop}),
            )
        };
        let cart_with_same_order = event(
            json!({"event_type": "add_to_cart", "timestamp": "2025-10-02T10:30:00Z", "order_id": "o-1"}),
        );
        let outcome = writer
            .insert_batch(&[
                purchase("default"),
                purchase("default"),
                purchase("other"),
                cart_with_same_order,
            ])
            .expect("stores");
        assert_eq!(
            outcome,
            InsertOutcome {
                inserted: 3,
                duplicates: 1
            }
        );
    }
}
