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

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::grain::day_of;
use domain::people::{FastHash, fingerprint};

/// Records that each `(session fingerprint, day)` has an event; returns the days whose day
/// rows folded one of those sessions as contained in them and are stale now, ascending.
pub(super) fn record(
    transaction: &Connection,
    sessions: &[(u64, i64)],
) -> Result<Vec<i64>, StoreError> {
    let mut spans: HashMap<u64, (i64, i64), FastHash> = HashMap::default();
    for &(session, day) in sessions {
        let span = spans.entry(session).or_insert((day, day));
        *span = (span.0.min(day), span.1.max(day));
    }
    let mut read = transaction
        .prepare_cached("SELECT first_day, last_day FROM session_spans WHERE session = ?1")?;
    let mut write = transaction.prepare_cached(
        "INSERT OR REPLACE INTO session_spans (session, first_day, last_day) VALUES (?1, ?2, ?3)",
    )?;
    let mut stale = Vec::new();
    for (session, (first, last)) in spans {
        let key = session as i64;
        let known: Option<(i64, i64)> = read
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let wider = match known {
            None => (first, last),
            Some((known_first, known_last)) if first >= known_first && last <= known_last => {
                continue;
            }
            Some((known_first, known_last)) => {
                if known_first == known_last {
                    stale.push(known_first);
                }
                (known_first.min(first), known_last.max(last))
            }
        };
        write.execute(params![key, wider.0, wider.1])?;
    }
    stale.sort_unstable();
    stale.dedup();
    Ok(stale)
}

/// Whether the session has events on `day` only (as far as the spans know: a session not
/// recorded is taken as spanning, the safe answer).
pub(super) fn contained_in(
    connection: &Connection,
    day: i64,
) -> Result<impl FnMut(u64) -> Result<bool, StoreError> + '_, StoreError> {
    let mut read = connection.prepare_cached(
        "SELECT first_day = ?2 AND last_day = ?2 FROM session_spans WHERE session = ?1",
    )?;
    Ok(move |session: u64| {
        Ok(read
            .query_row(params![session as i64, day], |row| row.get(0))
            .optional()?
            .unwrap_or(false))
    })
}

/// Sums every stored event with a session into the spans again, from nothing: for a file
/// upgraded from a version without spans.
pub(super) fn rebuild(transaction: &Connection) -> Result<(), StoreError> {
    transaction.execute("DELETE FROM session_spans", [])?;
    let mut sessions = Vec::new();
    {
        let mut events = transaction.prepare(
            "SELECT session_id, ts_micros FROM events
             WHERE session_id IS NOT NULL AND ts_micros IS NOT NULL",
        )?;
        let mut rows = events.query([])?;
        while let Some(row) = rows.next()? {
            let session: String = row.get(0)?;
            sessions.push((fingerprint(&session), day_of(row.get(1)?)));
            if sessions.len() >= 100_000 {
                record(transaction, &sessions)?;
                sessions.clear();
            }
        }
    }
    record(transaction, &sessions)?;
    Ok(())
}

/// Deletes the spans of sessions whose last day is before `horizon` (retention deleted all
/// their events).
pub(super) fn forget_before(transaction: &Connection, horizon: i64) -> Result<(), StoreError> {
    transaction.execute("DELETE FROM session_spans WHERE last_day < ?1", [horizon])?;
    Ok(())
}
