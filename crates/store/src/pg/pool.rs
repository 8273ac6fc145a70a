//! Read connections to PostgreSQL for the analytics service: each request's reads run in one
//! `REPEATABLE READ, READ ONLY` transaction (one snapshot, as SQLite's WAL gives a reader), on
//! the blocking thread pool. `DATABASE_READ_URL` may point them at a replica.

use std::sync::{Arc, Mutex};

use postgres::Client;

use super::{PgReads, schema};
use crate::StoreError;

/// A handful of idle connections to one database.
pub struct PgReadPool {
    url: String,
    idle: Mutex<Vec<Client>>,
}

impl PgReadPool {
    /// Applies pending migrations through `write_url` (analytics may start before the
    /// consumer; a replica cannot be migrated), then reads from `read_url`.
    pub fn open(write_url: &str, read_url: &str) -> Result<Arc<PgReadPool>, StoreError> {
        drop(super::open_and_migrate(write_url)?);
        Ok(Arc::new(PgReadPool {
            url: read_url.to_owned(),
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Runs `query` over one snapshot, on the calling thread (the caller is on the blocking
    /// pool).
    pub fn run_blocking<T>(
        &self,
        query: impl FnOnce(&PgReads<'_, Client>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.take()?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let result = query(&PgReads::new(&mut client));
        // A failed read leaves the transaction aborted: roll back either way.
        let ended = client.batch_execute("ROLLBACK");
        if ended.is_ok() && !client.is_closed() {
            self.give_back(client);
        }
        result
    }

    /// The schema version of the database read from.
    pub fn version(&self) -> Result<i64, StoreError> {
        let mut client = self.take()?;
        let version = schema::version(&mut client)?;
        self.give_back(client);
        Ok(version)
    }

    fn take(&self) -> Result<Client, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(client) if !client.is_closed() => Ok(client),
            _ => super::connect(&self.url),
        }
    }

    fn give_back(&self, client: Client) {
        const MAX_IDLE: usize = 8;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(client);
        }
    }
}
