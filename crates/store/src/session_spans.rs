//! Which UTC days each session has events on, as its first and last day, so that a day row of
//! people can fold the sessions that live wholly inside its day ("contained") into counts, and
//! list only the others with their runs ([`domain::people::DayPeople`]).
//!
//! Keyed by the session's fingerprint alone, not by shop: the all-shops rows count a session
//! id once across shops, so a session is contained only if none of its events, in any shop,
//! lies on another day.
//!
//! The rule that keeps day rows exact: a span may be wider than the session's events (after
//! retention or `forget` deleted some: the session is then listed where it could have been
//! folded, which costs a little room, never a wrong count), but never narrower. The writer
//! records every inserted event's day here in the insert's transaction; when a session that
//! was contained in one day gains an event on another, the day rows of its old day are
//! deleted ([`record`] returns that day), since they folded it as contained.

use std::collections::{HashMap, HashSet};

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::backend::ReadBackend;
use super::grain::day_of;
use domain::people::{FastHash, fingerprint};

/// The span each session of `sessions` (`(session fingerprint, day)` pairs) has in them, in
/// key order (the order in which a writer locks their rows).
pub(crate) fn batch_spans(sessions: &[(u64, i64)]) -> Vec<(u64, (i64, i64))> {
    let mut spans: HashMap<u64, (i64, i64), FastHash> = HashMap::default();
    for &(session, day) in sessions {
        let span = spans.entry(session).or_insert((day, day));
        *span = (span.0.min(day), span.1.max(day));
    }
    let mut spans: Vec<(u64, (i64, i64))> = spans.into_iter().collect();
    spans.sort_unstable_by_key(|(session, _)| *session);
    spans
}

/// What a session's stored span becomes when it gains events over `added`: `None` when the
/// stored span holds them already; otherwise the wider span, and the day whose day rows are
/// stale because they folded the session as contained in it (its stored span was that one
/// day).
pub(crate) fn widen(
    known: Option<(i64, i64)>,
    (first, last): (i64, i64),
) -> Option<((i64, i64), Option<i64>)> {
    match known {
        None => Some(((first, last), None)),
        Some((known_first, known_last)) if first >= known_first && last <= known_last => None,
        Some((known_first, known_last)) => Some((
            (known_first.min(first), known_last.max(last)),
            (known_first == known_last).then_some(known_first),
        )),
    }
}

/// Whether a session whose stored span is `span` has events on `day` only. A session not
/// recorded is taken as spanning, the safe answer.
pub(crate) fn is_contained(span: Option<(i64, i64)>, day: i64) -> bool {
    span == Some((day, day))
}

/// Records that each `(session fingerprint, day)` has an event; returns the days whose day
/// rows folded one of those sessions as contained in them and are stale now, ascending.
pub(super) fn record(
    transaction: &Connection,
    sessions: &[(u64, i64)],
) -> Result<Vec<i64>, StoreError> {
    let mut read = transaction
        .prepare_cached("SELECT first_day, last_day FROM session_spans WHERE session = ?1")?;
    let mut write = transaction.prepare_cached(
        "INSERT OR REPLACE INTO session_spans (session, first_day, last_day) VALUES (?1, ?2, ?3)",
    )?;
    let mut stale = Vec::new();
    for (session, added) in batch_spans(sessions) {
        let key = session as i64;
        let known: Option<(i64, i64)> = read
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((wider, stale_day)) = widen(known, added) else {
            continue;
        };
        stale.extend(stale_day);
        write.execute(params![key, wider.0, wider.1])?;
    }
    stale.sort_unstable();
    stale.dedup();
    Ok(stale)
}

/// How many sessions one lookup of spans asks for (a PostgreSQL array parameter of this many
/// keys is 80 kB).
pub(crate) const SPAN_CHUNK: usize = 10_000;

/// SQLite's stored spans of `sessions` (see [`ReadBackend::session_spans`]): one indexed
/// lookup each, in process.
pub(super) fn read_spans(
    connection: &Connection,
    sessions: &[u64],
    visit: &mut dyn FnMut(u64, (i64, i64)),
) -> Result<(), StoreError> {
    let mut read = connection
        .prepare_cached("SELECT first_day, last_day FROM session_spans WHERE session = ?1")?;
    for &session in sessions {
        let span = read
            .query_row([session as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some(span) = span {
            visit(session, span);
        }
    }
    Ok(())
}

/// The sessions of `sessions` that have events on `day` only, as far as the store's spans
/// know ([`is_contained`]), read in one call to the store.
pub(super) fn contained_in(
    store: &dyn ReadBackend,
    day: i64,
    sessions: &[u64],
) -> Result<HashSet<u64, FastHash>, StoreError> {
    let mut contained = HashSet::default();
    store.session_spans(sessions, &mut |session, span| {
        if is_contained(Some(span), day) {
            contained.insert(session);
        }
    })?;
    Ok(contained)
}

/// Reads the spans again from every stored event with a session, from nothing: for a file
/// upgraded from a version without spans. SQLite groups the events (its sorter spills to disk,
/// so memory stays bounded at any size) and the spans are written in key order; the
/// fingerprint and the day are this crate's own functions, registered for the statement.
pub(super) fn rebuild(transaction: &Connection) -> Result<(), StoreError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    transaction.create_scalar_function("session_fingerprint", 1, flags, |context| {
        Ok(fingerprint(context.get_raw(0).as_str()?) as i64)
    })?;
    transaction.create_scalar_function("utc_day", 1, flags, |context| {
        Ok(day_of(context.get::<i64>(0)?))
    })?;
    transaction.execute_batch(
        "DELETE FROM session_spans;
         INSERT INTO session_spans (session, first_day, last_day)
            SELECT session_fingerprint(session_id), utc_day(MIN(ts_micros)), utc_day(MAX(ts_micros))
            FROM events WHERE session_id IS NOT NULL AND ts_micros IS NOT NULL
            GROUP BY 1 ORDER BY 1;",
    )?;
    Ok(())
}

/// Deletes the spans of sessions whose last day is before `horizon` (retention deleted all
/// their events).
pub(super) fn forget_before(transaction: &Connection, horizon: i64) -> Result<(), StoreError> {
    transaction.execute("DELETE FROM session_spans WHERE last_day < ?1", [horizon])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;
    use domain::event::{Event, new_event_id};

    fn spans(connection: &Connection) -> Vec<(i64, i64, i64)> {
        connection
            .prepare("SELECT session, first_day, last_day FROM session_spans ORDER BY session")
            .expect("prepares")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("reads")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// What the writer records batch by batch, the upgrade's rebuild reads from the events at
    /// once; and a session that was contained in one day and gains another makes that day
    /// stale, once.
    #[test]
    fn the_rebuild_reads_what_the_writer_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let event = |session: &str, time: &str| {
            let value = serde_json::json!({"event_type": "page_view", "timestamp": time,
                "session_id": session, "shop_id": if session == "b" { "other" } else { "default" }});
            Event::from_json(value, chrono::Utc::now(), new_event_id).expect("valid")
        };
        writer
            .insert_batch(&[
                event("a", "2025-10-02T23:50:00Z"),
                event("b", "2025-10-02T10:00:00Z"),
                event("c", "2025-10-01T10:00:00Z"),
                event("c", "2025-10-03T10:00:00Z"),
            ])
            .expect("stores");
        let connection = rusqlite::Connection::open(&path).expect("opens");
        let day = |text: &str| {
            day_of(
                text.parse::<chrono::DateTime<chrono::Utc>>()
                    .expect("time")
                    .timestamp_micros(),
            )
        };
        let direct = rusqlite::Connection::open(&path).expect("opens");
        // "a" was contained in 2 October; an event past midnight makes that day stale.
        assert_eq!(
            record(&direct, &[(fingerprint("a"), day("2025-10-03T00:10:00Z"))]).expect("records"),
            vec![day("2025-10-02T00:00:00Z")]
        );
        assert_eq!(
            record(&direct, &[(fingerprint("a"), day("2025-10-03T00:20:00Z"))]).expect("records"),
            Vec::<i64>::new()
        );
        writer
            .insert_batch(&[event("a", "2025-10-03T00:10:00Z")])
            .expect("stores");
        let recorded = spans(&connection);
        assert_eq!(recorded.len(), 3);
        rebuild(&connection).expect("rebuilds");
        assert_eq!(spans(&connection), recorded);
        let asked = ["a", "b", "c", "unknown"].map(fingerprint);
        let contained =
            contained_in(&connection, day("2025-10-02T00:00:00Z"), &asked).expect("reads");
        assert_eq!(contained, HashSet::from_iter([fingerprint("b")]));
    }
}
