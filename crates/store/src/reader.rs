//! The analytics service's side of a store, whichever `DATABASE_URL` names: one snapshot per
//! answer, read through the [`ReadBackend`] boundary, off the async runtime.

use std::sync::Arc;

use crate::pg::PgReadPool;
use crate::pool::NotReady;
use crate::{ReadBackend, ReadPool, StoreError, StoreUrl, migrations, pg};

/// Read connections to the store.
#[derive(Clone)]
pub enum StoreReader {
    Sqlite(Arc<ReadPool>),
    /// PostgreSQL, read from `DATABASE_READ_URL` (a replica) when given.
    Postgres(Arc<PgReadPool>),
}

impl StoreReader {
    /// Applies pending migrations (analytics may start before the consumer), then prepares
    /// read connections: to `read_url` when given (PostgreSQL only), else to `url`.
    pub fn open(url: &StoreUrl, read_url: Option<&StoreUrl>) -> Result<StoreReader, StoreError> {
        match (url, read_url) {
            (StoreUrl::Sqlite(path), None) => Ok(StoreReader::Sqlite(ReadPool::open(path)?)),
            (StoreUrl::Postgres(url), None) => {
                Ok(StoreReader::Postgres(PgReadPool::open(url, url)?))
            }
            (StoreUrl::Postgres(url), Some(StoreUrl::Postgres(read))) => {
                Ok(StoreReader::Postgres(PgReadPool::open(url, read)?))
            }
            (_, Some(_)) => Err(StoreError::ReadUrl),
        }
    }

    /// Runs `compute` over one snapshot of the store on the blocking pool. On SQLite,
    /// dropping the returned future (the client has gone) stops the query.
    pub async fn snapshot<T, F>(&self, compute: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadBackend) -> T + Send + 'static,
    {
        match self {
            StoreReader::Sqlite(pool) => {
                pool.run(move |connection| {
                    let snapshot = connection.unchecked_transaction()?;
                    Ok(compute(&*snapshot))
                })
                .await
            }
            StoreReader::Postgres(pool) => {
                let pool = Arc::clone(pool);
                let (sender, receiver) = std::sync::mpsc::channel();
                let mut cancel = CancelOnDrop {
                    token: receiver,
                    finished: false,
                };
                let result = tokio::task::spawn_blocking(move || {
                    pool.run_cancellable(Some(sender), move |reads| Ok(compute(reads)))
                })
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
                cancel.finished = true;
                result
            }
        }
    }

    /// Whether the store answers and its schema is the one this build reads.
    pub async fn check_ready(&self) -> Result<(), NotReady> {
        let (version, latest) = match self {
            StoreReader::Sqlite(pool) => (
                pool.run(migrations::version).await,
                migrations::LATEST_VERSION,
            ),
            StoreReader::Postgres(pool) => {
                let pool = Arc::clone(pool);
                let version = tokio::task::spawn_blocking(move || pool.version())
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))?;
                (version, pg::schema::LATEST_VERSION)
            }
        };
        let version = version?;
        if version == latest {
            Ok(())
        } else {
            Err(NotReady::Schema {
                found: version,
                expected: latest,
            })
        }
    }
}

/// Cancels the running PostgreSQL statement when the future awaiting it is dropped before it
/// finished (the client has gone), as SQLite's progress handler does.
struct CancelOnDrop {
    token: std::sync::mpsc::Receiver<crate::pg::tls::Canceller>,
    finished: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(token) = self.token.try_recv() {
            // The synchronous cancel request runs a small runtime of its own: not on this one.
            std::thread::spawn(move || token.cancel());
        }
    }
}
