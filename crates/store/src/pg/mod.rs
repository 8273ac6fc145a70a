//! PostgreSQL as the store (docs/OPERATIONS.md, "PostgreSQL"), for more than one machine: several consumers write at
//! once and several analytics instances read, with the same answers as SQLite.
//!
//! | module | owns |
//! |---|---|
//! | [`schema`] | the versioned schema, applied at start-up under an advisory lock |
//! | [`writer`] | the idempotent batch insert (claims, multi-row insert, rollup upserts in key order) and the day roll-ups |
//! | [`rollup_writes`] | adding to the rollups and dropping stale day rows, for batches and `forget` |
//! | [`day_locks`] | the advisory locks on UTC days that keep roll-ups and inserts apart |
//! | [`sessions`] | what a batch records about sessions and visitors: attribution, first times, spans |
//! | [`reads`] | PostgreSQL's answers to the [`ReadBackend`](crate::ReadBackend) reads |
//! | [`upkeep`] | retention (whole month partitions), forgetting a visitor, backups |
//! | [`live`] | noticing newly committed events for the live stream |
//! | [`pool`] | read connections for the analytics service, one snapshot per request |
//! | [`retry`] | transactions aborted as deadlocks or serialization failures, run again |
//! | [`tls`] | the URL's `sslmode` and `sslrootcert`, and connecting with the TLS they ask for |

mod day_locks;
pub mod live;
pub mod pool;
pub mod reads;
mod retry;
mod rollup_writes;
pub mod schema;
mod sessions;
pub mod tls;
pub mod upkeep;
pub mod writer;

use chrono::{Datelike, TimeZone};
use postgres::Client;

/// A value whose drop may block, kept so that dropping it never panics: `postgres::Client`'s
/// drop runs a runtime of its own to close the connection, which panics on a thread that
/// drives asynchronous tasks, and a service's shutdown drops its store on one. When a Tokio
/// runtime is current, the value is dropped on a thread of its own (closing a connection is one
/// message, so the wait is short).
pub(crate) struct OffRuntime<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> OffRuntime<T> {
    pub(crate) fn new(value: T) -> OffRuntime<T> {
        OffRuntime(Some(value))
    }
}

impl<T: Send + 'static> std::ops::Deref for OffRuntime<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("only taken in drop")
    }
}

impl<T: Send + 'static> std::ops::DerefMut for OffRuntime<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("only taken in drop")
    }
}

impl<T: Send + 'static> Drop for OffRuntime<T> {
    fn drop(&mut self) {
        let Some(value) = self.0.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // A panic there is the value's own; it must not take the service down with it.
            let _ = std::thread::spawn(move || drop(value)).join();
        } else {
            drop(value);
        }
    }
}

pub use pool::PgReadPool;
pub use reads::PgReads;
pub use tls::connect;
pub use writer::PgWriter;

use crate::StoreError;

/// Connects and applies pending migrations.
pub fn open_and_migrate(url: &str) -> Result<Client, StoreError> {
    let mut client = connect(url)?;
    schema::apply(&mut client)?;
    Ok(client)
}

/// The first microsecond of the UTC month holding `ts_micros`, and of the next month.
fn month_of(ts_micros: i64) -> (i64, i64) {
    let time = chrono::DateTime::from_timestamp_micros(ts_micros).unwrap_or_default();
    let start = chrono::Utc
        .with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (year, month) = if time.month() == 12 {
        (time.year() + 1, 1)
    } else {
        (time.year(), time.month() + 1)
    };
    let end = chrono::Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (start.timestamp_micros(), end.timestamp_micros())
}

/// The partition of `events` holding the UTC month that starts at `month`.
fn partition_name(month: i64) -> String {
    let start = chrono::DateTime::from_timestamp_micros(month).unwrap_or_default();
    format!("events_{:04}_{:02}", start.year(), start.month())
}

/// Creates the partition of the month starting at `month` unless it exists, in its own
/// transaction, under an advisory lock so that two consumers never race on one.
fn create_partition(client: &mut Client, month: i64) -> Result<(), StoreError> {
    const PARTITION_LOCK: i64 = 0x7061_7274_6974_696f;
    let name = partition_name(month);
    let (_, end) = month_of(month);
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])?;
    let exists: bool = transaction
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?
        .get(0);
    if !exists {
        transaction.batch_execute(&format!(
            "CREATE TABLE {name} PARTITION OF events FOR VALUES FROM ({month}) TO ({end})"
        ))?;
    }
    transaction.commit()?;
    Ok(())
}

/// Whether a PostgreSQL error is the database failing (unreachable, shutting down, out of
/// room, a deadlock or serialization failure to retry) rather than refusing the data.
pub(crate) fn is_failure(error: &postgres::Error) -> bool {
    let Some(code) = error.code() else {
        // No SQLSTATE: the connection or the protocol failed.
        return true;
    };
    let class = &code.code()[..2];
    // 22: data exception, 23: integrity constraint violation: the data, not the store.
    !matches!(class, "22" | "23")
}
