//! The SQLite store: one file in WAL mode, so the analytics readers never block the consumer's
//! writes and vice versa.
//!
//! A question goes one way: the [`plan`] cuts its range into spans, the readers ([`read`] for
//! sums, [`people`] for visitors and sessions) fetch those spans through the [`backend`]
//! reads — rollup rows, day rows of people, raw rows — and [`domain::formulas`] turns what they
//! return into numbers. The writer adds each batch to the raw rows and the rollups in one
//! transaction.
//!
//! | module | owns |
//! |---|---|
//! | [`migrations`] | the versioned schema, applied at start-up by every process that opens the store |
//! | [`writer`] | the idempotent batch insert the consumer commits |
//! | [`attribution`] | each session's attribution and each visitor's first times, kept by the writer |
//! | [`segment`] | a store narrowed to the events of the sessions a request's filters select |
//! | [`attributed`] | the attributed pass: breakdown rows and session metrics from raw events |
//! | [`rollups`] | the one rollup table: sums by shop, dimension, grain, bucket and value; the writer's deltas |
//! | [`grain`] | the rollups' time grains (15 minutes, UTC days, weeks, all time) and their buckets |
//! | [`plan`] | the range planner: which grain (or day row of people) answers which part of a range |
//! | [`read`] | sums for a filter, per dimension value or per time slot, from the planned spans |
//! | [`backend`] | the boundary: the reads a store backend answers, which readers are written over |
//! | [`sqlite_reads`] | SQLite's answers to those reads |
//! | [`sqlite_segment`] | SQLite's answers to the attributed reads: events with their session's attribution, filtered |
//! | [`filter`] | which events a question looks at: a shop and a time range |
//! | [`days`] | day rows of people (per shop, and per attributed value), rolled up once a UTC day has ended, forgotten when it gains events |
//! | [`people_days`] | the day rows' people: the whole day summarised, and per 15-minute bucket |
//! | [`session_spans`] | the first and last day of each session, which decide what a day row may fold |
//! | [`people`] | the people pass: visitors, sessions and session funnels over a range |
//! | [`varint`] | the integers of the day rows' blobs |
//! | [`pool`] | read connections for the analytics service |
//! | [`reader`] | the analytics service's snapshots of whichever store `DATABASE_URL` names |
//! | [`live`] | noticing newly committed events for the live stream |
//! | [`backup`] | a consistent copy of the store while everything runs |
//! | [`forget`] | deleting one visitor's events and correcting every summary |
//! | [`retention`] | deleting raw events and people older than `RETENTION_DAYS`; sums stay |
//! | [`write_backend`] | the write boundary (what the consumer and the subcommands ask of a store) and `DATABASE_URL` |
//! | [`pg`] | PostgreSQL behind both boundaries (docs/OPERATIONS.md, "PostgreSQL") |

pub mod attributed;
pub mod attribution;
pub mod backend;
pub mod backup;
pub mod days;
pub mod filter;
pub mod forget;
pub mod grain;
pub mod live;
pub mod migrations;
pub mod people;
pub mod people_days;
pub mod pg;
pub mod plan;
pub mod pool;
pub mod read;
pub mod reader;
pub mod retention;
pub mod rollups;
pub mod segment;
pub mod session_spans;
pub mod sqlite_reads;
pub mod sqlite_segment;
pub mod varint;
pub mod write_backend;
pub mod writer;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

pub use backend::ReadBackend;
pub use filter::EventFilter;
pub use plan::Plan;
pub use pool::ReadPool;
pub use reader::StoreReader;
pub use write_backend::{StoreUrl, StoreUrlError, WriteBackend};
pub use writer::{InsertOutcome, Writer};

/// How long a connection waits for a lock held by another before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How hard a commit presses its data to the disk (`SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Synchronous {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of any process; a power loss
    /// or kernel crash may undo the commits the OS had not yet written back (seconds to tens
    /// of seconds of events, already acknowledged in Redis).
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced and survives a power loss; batched inserts
    /// cost several times more.
    Full,
}

impl Synchronous {
    /// The value of SQLite's `synchronous` pragma.
    pub fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("PostgreSQL: {0}")]
    PgTls(#[from] pg::tls::TlsError),
    #[error("cannot create the folder of the database file {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the schema is at version {found}, newer than this build knows ({known}); upgrade the binary"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("a store task stopped unexpectedly: {0}")]
    Task(String),
    #[error("the store holds a damaged rollup: {0}")]
    Corrupt(String),
    #[error("backup: {0}")]
    Backup(String),
    #[error("the store file is gone: {0}")]
    FileGone(String),
    #[error("not a read of this store: {0}")]
    Unsupported(&'static str),
    #[error("DATABASE_READ_URL is for a PostgreSQL replica of a PostgreSQL DATABASE_URL")]
    ReadUrl,
}

impl StoreError {
    /// Whether the store itself is failing (full, locked, read-only, unreadable), as opposed
    /// to refusing particular data. A failing store is retried; data it refuses while it
    /// works is a poison event.
    pub fn is_store_failure(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlite(error) => match error.sqlite_error_code() {
                Some(
                    InternalMalfunction
                    | PermissionDenied
                    | OperationAborted
                    | DatabaseBusy
                    | DatabaseLocked
                    | OutOfMemory
                    | ReadOnly
                    | OperationInterrupted
                    | SystemIoFailure
                    | DatabaseCorrupt
                    | DiskFull
                    | CannotOpen
                    | FileLockingProtocolFailed
                    | SchemaChanged
                    | NotADatabase,
                ) => true,
                Some(_) => false,
                // Not an SQLite result code: a failure of the connection or the library.
                None => true,
            },
            StoreError::Postgres(error) => pg::is_failure(error),
            StoreError::Folder { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Task(_)
            | StoreError::Corrupt(_)
            | StoreError::Backup(_)
            | StoreError::FileGone(_)
            | StoreError::Unsupported(_)
            | StoreError::PgTls(_)
            | StoreError::ReadUrl => true,
        }
    }
}

/// Opens (creating if needed) the database file, sets the pragmas every connection needs, and
/// applies pending migrations.
///
/// The consumer and analytics may open a new file at the same moment. SQLite then refuses one
/// of them at once (rather than wait) while the other switches the file to WAL, so a busy
/// store is retried for a few seconds before it counts as an error.
pub fn open_and_migrate(path: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match try_open_and_migrate(path, synchronous) {
            Err(StoreError::Sqlite(error))
                if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn try_open_and_migrate(path: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    let mut connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers see the last commit while the writer appends the next one.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", synchronous.pragma_value())?;
    migrations::apply(&mut connection)?;
    Ok(connection)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
