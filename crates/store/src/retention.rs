//! Retention (`RETENTION_DAYS`): the raw events, the day rows of people and the session spans
//! older than a horizon are deleted; the summed rollups stay, and so do the rows of `sessions`
//! (attribution) and `visitors` / `visitors_all` (first times), which a later event of the same
//! session or visitor is measured against (docs/OPERATIONS.md, "Retention").
//!
//! Before deleting, the rows past the rollups' watermark are folded in, in the same
//! transaction, so the rollups hold every deleted event: sums over any range stay whole (a range
//! whose ragged, sub-15-minute edges lie before the horizon has nothing left to read there). People
//! (visitors, sessions and what derives from them) exist only from the horizon on, which the
//! store records (`retention.people_since`) so that answers can say so.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::grain::{DAY_MICROS, day_of};
use super::{StoreError, rollups, session_spans};

/// What one retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// People are known from here on (UTC midnight, microseconds).
    pub people_since: i64,
    pub deleted_events: u64,
}

/// Deletes the raw events and day rows of people before the UTC midnight `days` days before
/// `now_micros`, after folding every raw row into the rollups, in one transaction.
pub fn apply(
    connection: &mut Connection,
    now_micros: i64,
    days: u32,
) -> Result<Retained, StoreError> {
    let horizon = day_of(now_micros).saturating_sub(i64::from(days).saturating_mul(DAY_MICROS));
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    rollups::fold(&transaction)?;
    let deleted = transaction.execute("DELETE FROM events WHERE ts_micros < ?1", [horizon])?;
    transaction.execute("DELETE FROM people_days WHERE day < ?1", [horizon])?;
    transaction.execute("DELETE FROM people_value_days WHERE day < ?1", [horizon])?;
    transaction.execute("DELETE FROM people_value_marks WHERE day < ?1", [horizon])?;
    session_spans::forget_before(&transaction, horizon)?;
    transaction.execute(
        "UPDATE retention SET people_since = MAX(COALESCE(people_since, ?1), ?1)",
        [horizon],
    )?;
    let people_since = people_since(&transaction)?.unwrap_or(horizon);
    transaction.commit()?;
    Ok(Retained {
        people_since,
        deleted_events: deleted as u64,
    })
}

/// Where people are known from, when retention has cut anything.
pub fn people_since(connection: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .query_row("SELECT people_since FROM retention", [], |row| row.get(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventFilter, Plan, Writer, people, read};
    use chrono::{TimeDelta, Utc};
    use domain::dimension::Dimension;
    use domain::event::Event;

    #[test]
    fn old_events_go_their_sums_stay_and_people_start_at_the_horizon() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let now = Utc::now();
        let event = |days_ago: i64, visitor: &str| {
            let value = serde_json::json!({"event_type": "purchase", "order_amount": 5,
                "timestamp": (now - TimeDelta::days(days_ago)).to_rfc3339(),
                "visitor_id": visitor, "session_id": visitor, "product_id": "p"});
            Event::from_json(value, now, domain::event::new_event_id).expect("valid")
        };
        writer
            .insert_batch(&[event(40, "old"), event(35, "old"), event(3, "new")])
            .expect("stores");
        let all = EventFilter::default();
        let before = read::totals(&connection(&path), &all, Plan::Rollup).expect("sums");
        let mut store = crate::open_and_migrate(&path, crate::Synchronous::Normal).expect("opens");
        assert_eq!(people_since(&store).expect("reads"), None);
        let retained = apply(&mut store, now.timestamp_micros(), 30).expect("retains");
        assert_eq!(retained.deleted_events, 2);
        let connection = connection(&path);
        assert_eq!(
            people_since(&connection).expect("reads"),
            Some(retained.people_since)
        );
        let after = read::totals(&connection, &all, Plan::Rollup).expect("sums");
        assert_eq!(after, before, "sums stay whole");
        let products =
            read::sums_by_value(&connection, &all, Dimension::Product, None, Plan::Rollup)
                .expect("sums");
        assert_eq!(products["p"].purchases, 3);
        let people = people::people(&connection, &all, None, Plan::Rollup).expect("people");
        assert_eq!((people.visitors, people.sessions), (1, 1));
        // A second pass deletes nothing more and keeps the horizon.
        let again = apply(&mut store, now.timestamp_micros(), 30).expect("retains");
        assert_eq!(
            (again.deleted_events, again.people_since),
            (0, retained.people_since)
        );
    }

    fn connection(path: &std::path::Path) -> Connection {
        Connection::open(path).expect("opens")
    }
}
