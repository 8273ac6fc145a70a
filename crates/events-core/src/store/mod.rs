//! The SQLite store: one file in WAL mode, so the analytics readers never block the consumer's
//! writes and vice versa.
//!
//! | module | owns |
//! |---|---|
//! | [`migrations`] | the versioned schema, applied at start-up by every process that opens the store |
//! | [`writer`] | the idempotent batch insert the consumer commits |
//! | [`pool`] | read connections for the analytics service |
//! | [`queries`] | the metric queries |

pub mod migrations;
pub mod pool;
pub mod queries;
pub mod writer;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

pub use pool::ReadPool;
pub use queries::EventFilter;
pub use writer::{InsertOutcome, Writer};

/// How long a connection waits for a lock held by another before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
}

/// Opens (creating if needed) the database file, sets the pragmas every connection needs, and
/// applies pending migrations.
pub fn open_and_migrate(path: &Path) -> Result<Connection, StoreError> {
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
    // NORMAL in WAL mode: a commit survives a process crash; a power loss may lose the last
    // commits, which Redis still holds unacknowledged only until they are acknowledged.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    migrations::apply(&mut connection)?;
    Ok(connection)
}
