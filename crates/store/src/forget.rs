//! Deleting one visitor everywhere (`analytics forget`): their raw events, and every summary
//! that counted them.
//!
//! Sums with a maximum and a minimum cannot be taken apart again, so the rollups are summed
//! anew from the remaining events (the same fold the writer uses, so they cannot differ from
//! what the writer would have built); the day rows of people of every day the visitor was seen
//! are deleted and rolled up again by the consumer. All in one transaction: an answer sees the
//! visitor wholly or not at all. The cost grows with the store (the fold sums every event
//! again: about 100,000 events a second here).

use std::path::Path;

use rusqlite::{TransactionBehavior, params};

use super::grain::{ALL_SHOPS, day_of};
use super::{StoreError, Synchronous, attribution, days, rollups};

/// Deletes every event of `visitor_id` in `shop_id` and corrects every summary; returns how
/// many events it deleted.
pub fn forget_visitor(path: &Path, shop_id: &str, visitor_id: &str) -> Result<u64, StoreError> {
    let mut connection = super::open_and_migrate(path, Synchronous::default())?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut days: Vec<i64> = Vec::new();
    let mut sessions: Vec<String> = Vec::new();
    {
        let mut times = transaction.prepare(
            "SELECT ts_micros, session_id FROM events WHERE shop_id = ?1 AND visitor_id = ?2",
        )?;
        let rows = times.query_map(params![shop_id, visitor_id], |row| {
            Ok((
                row.get::<_, Option<i64>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ))
        })?;
        for row in rows {
            let (ts, session) = row?;
            days.extend(ts.map(day_of));
            sessions.extend(session);
        }
    }
    sessions.sort_unstable();
    sessions.dedup();
    let deleted = transaction.execute(
        "DELETE FROM events WHERE shop_id = ?1 AND visitor_id = ?2",
        params![shop_id, visitor_id],
    )?;
    if deleted > 0 {
        let mut touched: Vec<(&str, i64)> = days
            .iter()
            .flat_map(|day| [(shop_id, *day), (ALL_SHOPS, *day)])
            .collect();
        touched.sort_unstable();
        touched.dedup();
        days::forget_days(&transaction, &touched)?;
        // Their sessions may have other visitors' events left, which now have another first;
        // the rollups' attributed dimensions are summed with it.
        attribution::rebuild(&transaction, shop_id, &sessions, &[visitor_id.to_owned()])?;
        rollups::rebuild(&transaction)?;
    }
    transaction.commit()?;
    Ok(deleted as u64)
}
