//! Noticing newly committed events, for the live stream of the analytics service.
//!
//! `PRAGMA data_version` on a long-lived connection changes whenever another connection
//! commits to the file, and costs no I/O to read, so polling it a few times a second is cheap.
//! Only when it changes are the rows past the last seen `id` counted, per shop.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, StoreError};

/// Events that became visible since the last poll: how many, per shop (sorted by shop id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub per_shop: Vec<(String, u64)>,
}

impl Stored {
    pub fn shop_ids(&self) -> Vec<&str> {
        self.per_shop
            .iter()
            .map(|(shop, _)| shop.as_str())
            .collect()
    }

    pub fn count(&self) -> u64 {
        self.per_shop.iter().map(|(_, count)| count).sum()
    }

    /// Only one shop's part; `None` when that shop had nothing new.
    pub fn for_shop(&self, shop_id: &str) -> Option<Stored> {
        let per_shop: Vec<_> = self
            .per_shop
            .iter()
            .filter(|(shop, _)| shop == shop_id)
            .cloned()
            .collect();
        (!per_shop.is_empty()).then_some(Stored { per_shop })
    }
}

/// A read connection that remembers the last commit and the last row it has seen.
pub struct CommitWatcher {
    connection: Connection,
    data_version: i64,
    last_id: i64,
}

impl CommitWatcher {
    /// Starts watching from the rows stored now: only later ones are reported.
    pub fn open(path: &Path) -> Result<CommitWatcher, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let data_version = connection.pragma_query_value(None, "data_version", |r| r.get(0))?;
        let last_id =
            connection.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
        Ok(CommitWatcher {
            connection,
            data_version,
            last_id,
        })
    }

    /// What was committed since the last call, or `None` when nothing was.
    pub fn poll(&mut self) -> Result<Option<Stored>, StoreError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        if version == self.data_version {
            return Ok(None);
        }
        self.data_version = version;
        let mut statement = self.connection.prepare_cached(
            "SELECT shop_id, COUNT(*), MAX(id) FROM events WHERE id > ? GROUP BY shop_id ORDER BY shop_id",
        )?;
        let mut rows = statement.query([self.last_id])?;
        let mut per_shop = Vec::new();
        let mut last_id = self.last_id;
        while let Some(row) = rows.next()? {
            per_shop.push((row.get(0)?, row.get(1)?));
            last_id = last_id.max(row.get(2)?);
        }
        self.last_id = last_id;
        Ok((!per_shop.is_empty()).then_some(Stored { per_shop }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;
    use domain::event::{Event, new_event_id};

    fn event(shop: &str) -> Event {
        Event::from_json(
            serde_json::json!({"event_type": "page_view", "timestamp": "2025-10-02T10:00:00Z", "shop_id": shop}),
            chrono::Utc::now(),
            new_event_id,
        )
        .expect("valid")
    }

    #[test]
    fn only_commits_after_opening_are_reported_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        writer.insert_batch(&[event("old")]).expect("stores");
        let mut watcher = CommitWatcher::open(&path).expect("watches");
        assert_eq!(watcher.poll().expect("polls"), None);
        writer
            .insert_batch(&[event("b"), event("a"), event("b")])
            .expect("stores");
        assert_eq!(
            watcher.poll().expect("polls"),
            Some(Stored {
                per_shop: vec![("a".into(), 1), ("b".into(), 2)]
            })
        );
        assert_eq!(watcher.poll().expect("polls"), None);
    }
}
