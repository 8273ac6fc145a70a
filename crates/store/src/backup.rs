//! A consistent copy of the store while everything runs.
//!
//! `VACUUM INTO` reads one snapshot (in WAL mode a reader never waits for the writer, nor the
//! writer for it) and writes it as a new, compact database file, with the rollups, their
//! watermark and the day rows exactly as they were at that commit. Restoring is putting the
//! file where `DATABASE_URL` points while no service runs (docs/OPERATIONS.md).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, StoreError};

/// Writes a consistent copy of the store at `source` to `target`, which must not exist;
/// returns the copy's size in bytes.
pub fn backup(source: &Path, target: &Path) -> Result<u64, StoreError> {
    if target.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists already; choose a new file",
            target.display()
        )));
    }
    if !source.exists() {
        return Err(StoreError::Backup(format!(
            "there is no store at {}",
            source.display()
        )));
    }
    let connection = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let target_text = target
        .to_str()
        .ok_or_else(|| StoreError::Backup(format!("{} is not UTF-8", target.display())))?;
    connection.execute("VACUUM INTO ?1", [target_text])?;
    std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(|error| StoreError::Backup(format!("{}: {error}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventFilter, Plan, Writer, migrations, read};
    use domain::dimension::Dimension;
    use domain::event::Event;

    fn views(from: usize, count: usize) -> Vec<Event> {
        (from..from + count)
            .map(|n| {
                let value = serde_json::json!({"event_type": "page_view",
                    "timestamp": "2025-10-02T10:30:00Z", "event_id": format!("e{n}"),
                    "product_id": format!("p{}", n % 7)});
                Event::from_json(value, chrono::Utc::now(), domain::event::new_event_id)
                    .expect("valid")
            })
            .collect()
    }

    /// A backup taken while a writer keeps committing is a whole store: current schema,
    /// and rollups that answer exactly what its raw rows answer.
    #[test]
    fn a_backup_under_load_is_a_consistent_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        writer.set_fold_rows(300);
        writer.insert_batch(&views(0, 1000)).expect("stores");
        let load = std::thread::spawn(move || {
            for batch in 1..40 {
                writer
                    .insert_batch(&views(batch * 100_000, 250))
                    .expect("stores");
            }
        });
        let copy = dir.path().join("copy.db");
        let size = backup(&path, &copy).expect("backs up");
        load.join().expect("the writer finished");
        assert!(size > 0);
        assert!(matches!(
            backup(&path, &copy),
            Err(StoreError::Backup(message)) if message.contains("exists")
        ));
        let restored = Connection::open(&copy).expect("opens the copy");
        assert_eq!(
            migrations::version(&restored).expect("version"),
            migrations::LATEST_VERSION
        );
        let stored: i64 = restored
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            .expect("counts");
        assert!((1000..=1000 + 39 * 250).contains(&stored), "{stored}");
        for dimension in Dimension::ALL {
            let ask = |plan| {
                read::sums_by_value(&restored, &EventFilter::default(), dimension, None, plan)
                    .expect("reads")
            };
            assert_eq!(ask(Plan::Rollup), ask(Plan::Raw), "{dimension:?}");
        }
    }
}
