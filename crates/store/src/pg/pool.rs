//! Read connections to PostgreSQL for the analytics service: each request's reads run in one
//! `REPEATABLE READ, READ ONLY` transaction (one snapshot, as SQLite's WAL gives a reader), on
//! the blocking thread pool. `DATABASE_READ_URL` may point them at a replica.

use std::sync::{Arc, Mutex};

use postgres::Client;

use super::reads::StatementCache;
use super::{PgReads, schema};
use crate::StoreError;

/// A handful of idle connections to one database.
pub struct PgReadPool {
    url: String,
    /// Idle connections with the statements prepared on each.
    idle: Mutex<Vec<(Client, StatementCache)>>,
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
        self.run_cancellable(None, query)
    }

    /// The same, first handing `cancel` the token that stops the running statement (for a
    /// client that has gone).
    pub fn run_cancellable<T>(
        &self,
        cancel: Option<std::sync::mpsc::Sender<super::tls::Canceller>>,
        query: impl FnOnce(&PgReads<'_, Client>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (mut client, statements) = self.take()?;
        if let Some(cancel) = cancel {
            let _ = cancel.send(super::tls::Canceller::new(&client, &self.url));
        }
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let reads = PgReads::with_statements(&mut client, statements);
        let result = query(&reads);
        let statements = reads.into_statements();
        // A failed read leaves the transaction aborted: roll back either way.
        let ended = client.batch_execute("ROLLBACK");
        if ended.is_ok() && !client.is_closed() {
            self.give_back(client, statements);
        }
        result
    }

    /// The schema version of the database read from.
    pub fn version(&self) -> Result<i64, StoreError> {
        let (mut client, statements) = self.take()?;
        let version = schema::version(&mut client)?;
        self.give_back(client, statements);
        Ok(version)
    }

    fn take(&self) -> Result<(Client, StatementCache), StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some((client, statements)) if !client.is_closed() => Ok((client, statements)),
            _ => Ok((super::connect(&self.url)?, StatementCache::new())),
        }
    }

    fn give_back(&self, client: Client, statements: StatementCache) {
        const MAX_IDLE: usize = 8;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((client, statements));
        }
    }
}

/// The idle connections close off the runtime ([`OffRuntime`](super::OffRuntime)): the
/// analytics service drops its pool on one at shutdown.
impl Drop for PgReadPool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        drop(super::OffRuntime::new(idle));
    }
}

/// The text columns of one exported event (all but the amount).
pub type ExportCells<'a> = [Option<&'a str>; 13];

impl PgReadPool {
    /// Hands `visit` every raw event of a filter in time order (ties in arrival order) for the
    /// CSV export: the text of `event_id, event_type, timestamp, shop_id, product_id`, the
    /// amount in micros, then `currency, quantity, order_id, session_id, visitor_id, path,
    /// referrer, received_at`; `visit` returns `false` to stop (the client has gone).
    pub fn export_events(
        &self,
        filter: &crate::EventFilter,
        filters: &domain::attribution::Filters,
        visit: &mut dyn FnMut(&ExportCells<'_>, Option<i64>) -> bool,
    ) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        self.run_blocking(|reads| {
            let mut params = Vec::new();
            // Bots are never exported; with filters, only the events of the sessions they
            // select (as SQLite's export).
            let selection = super::reads::selection(filter, filters, &mut params);
            let sql = format!(
                "SELECT e.event_id, e.event_type, e.timestamp, e.shop_id, e.product_id,
                    e.amount_micros, e.currency, e.quantity::text, e.order_id, e.session_id,
                    e.visitor_id, e.path, e.referrer, e.received_at
                 {selection} ORDER BY e.ts_micros NULLS FIRST, e.id"
            );
            reads.with_client(|client| {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    params.iter().map(|p| p.as_ref()).collect();
                let mut rows = client.query_raw(&sql, refs)?;
                while let Some(row) = rows.next()? {
                    let mut cells: [Option<&str>; 13] = [None; 13];
                    for (cell, column) in cells.iter_mut().zip((0..5).chain(6..14)) {
                        *cell = row.try_get(column)?;
                    }
                    if !visit(&cells, row.try_get(5)?) {
                        break;
                    }
                }
                Ok(())
            })
        })
    }
}
