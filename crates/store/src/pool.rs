//! Read connections for the analytics service, reused across requests and used on the
//! blocking thread pool so that a slow query never stalls the async runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, StoreError, migrations};

/// How many SQLite VM steps run between two checks whether the client is still there
/// (thousands of steps take microseconds).
const PROGRESS_OPS: i32 = 10_000;

/// Marks a query abandoned when the future awaiting it is dropped before it finished.
struct AbandonOnDrop {
    flag: Arc<AtomicBool>,
    finished: bool,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Why the store is not ready (`GET /api/ready` answers `503` with it).
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("schema version {found}, expected {expected}")]
    Schema { found: i64, expected: i64 },
}

/// A handful of read-only connections to one database file.
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    /// Applies pending migrations (analytics may start before the consumer), then prepares
    /// read-only connections.
    pub fn open(path: &Path) -> Result<Arc<ReadPool>, StoreError> {
        drop(super::open_and_migrate(path, super::Synchronous::Normal)?);
        Ok(Arc::new(ReadPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Runs `query` on a read connection, off the async runtime. Dropping the returned future
    /// (the client has gone) stops the query at SQLite's next progress check.
    pub async fn run<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        let mut abandoned = AbandonOnDrop {
            flag: Arc::new(AtomicBool::new(false)),
            finished: false,
        };
        let flag = Arc::clone(&abandoned.flag);
        let result = tokio::task::spawn_blocking(move || {
            let connection = pool.take()?;
            // Set on every run, replacing the previous run's: a query between statements
            // would miss `sqlite3_interrupt`, a progress handler never does.
            connection.progress_handler(PROGRESS_OPS, Some(move || flag.load(Ordering::Relaxed)));
            let result = query(&connection);
            pool.give_back(connection);
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        abandoned.finished = true;
        result
    }

    /// Whether the store answers and its schema is the one this build reads.
    pub async fn check_ready(self: &Arc<Self>) -> Result<(), NotReady> {
        let version = self.run(migrations::version).await?;
        if version == migrations::LATEST_VERSION {
            Ok(())
        } else {
            Err(NotReady::Schema {
                found: version,
                expected: migrations::LATEST_VERSION,
            })
        }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(connection) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        const MAX_IDLE: usize = 8;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}
