//! What a PostgreSQL batch records about its sessions and visitors, in the batch's
//! transaction: each session's attribution and each visitor's first times (`sessions`,
//! `visitors`), and the days each session spans (`session_spans`). The rules are the store's
//! own ([`attribution`](crate::attribution), [`session_spans`]); this module is their
//! PostgreSQL statements, taking row locks in key order.

use std::collections::{BTreeSet, HashMap, HashSet};

use postgres::Transaction;

use super::day_locks::{DAY_LOCKS, day_number};
use crate::attribution::VISITOR_IS_EARLIER;
use crate::{StoreError, session_spans};
use domain::event::Event;

/// Records the batch's sessions' attribution and visitors' first times
/// ([`attribution`](crate::attribution)'s rules, as SQLite's writer does row by row): one upsert
/// per table, rows in key order so concurrent consumers never deadlock. A session is taken
/// over only by an event before its first one, its landing page only by an earlier page view.
pub(super) fn record_attribution(
    transaction: &mut Transaction<'_>,
    stored: &[(&Event, i64)],
) -> Result<(), StoreError> {
    let firsts = crate::attribution::batch_firsts(stored);
    if !firsts.sessions.is_empty() {
        let n = firsts.sessions.len();
        let (mut shops, mut sessions) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut first_ts, mut first_id) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut traffic: [Vec<Option<&str>>; 9] = Default::default();
        let (mut landing_ts, mut landing_id, mut landing_page) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for ((shop, session), session_firsts) in &firsts.sessions {
            let (event, id) = session_firsts.first;
            shops.push(*shop);
            sessions.push(*session);
            first_ts.push(event.timestamp.timestamp_micros());
            first_id.push(id);
            let t = &event.traffic;
            for (column, value) in traffic.iter_mut().zip([
                &t.channel,
                &t.source,
                &t.medium,
                &t.campaign,
                &t.referrer_domain,
                &t.device,
                &t.browser,
                &t.os,
                &t.country,
            ]) {
                column.push(value.as_deref());
            }
            landing_ts.push(
                session_firsts
                    .landing
                    .map(|(e, _)| e.timestamp.timestamp_micros()),
            );
            landing_id.push(session_firsts.landing.map(|(_, id)| id));
            landing_page.push(session_firsts.landing.and_then(|(e, _)| e.path.as_deref()));
        }
        let first_columns = [
            "first_ts",
            "first_id",
            "channel",
            "source",
            "medium",
            "campaign",
            "referrer_domain",
            "device",
            "browser",
            "os",
            "country",
        ];
        let landing_columns = ["landing_ts", "landing_id", "landing_page"];
        let updates: Vec<String> = first_columns
            .iter()
            .map(|c| {
                format!(
                    "{c} = CASE WHEN (excluded.first_ts, excluded.first_id)
                        < (sessions.first_ts, sessions.first_id)
                        THEN excluded.{c} ELSE sessions.{c} END"
                )
            })
            .chain(landing_columns.iter().map(|c| {
                format!(
                    "{c} = CASE WHEN excluded.landing_id IS NOT NULL AND (sessions.landing_id IS NULL
                        OR (excluded.landing_ts, excluded.landing_id)
                            < (sessions.landing_ts, sessions.landing_id))
                        THEN excluded.{c} ELSE sessions.{c} END"
                )
            }))
            .collect();
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            vec![&shops, &sessions, &first_ts, &first_id];
        for column in &traffic {
            params.push(column);
        }
        params.extend([
            &landing_ts as &(dyn postgres::types::ToSql + Sync),
            &landing_id,
            &landing_page,
        ]);
        transaction.execute(
            &format!(
                "INSERT INTO sessions (shop_id, session_id, {first}, {landing})
                 SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::text[], $13::text[], $14::int8[], $15::int8[], $16::text[])
                     WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13,
                         c14, c15, c16, n)
                 ORDER BY n
                 ON CONFLICT (shop_id, session_id) DO UPDATE SET {updates}",
                first = first_columns.join(", "),
                landing = landing_columns.join(", "),
                updates = updates.join(", "),
            ),
            &params,
        )?;
    }
    if !firsts.visitors.is_empty() {
        let shops: Vec<&str> = firsts.visitors.keys().map(|k| k.0).collect();
        let visitors: Vec<&str> = firsts.visitors.keys().map(|k| k.1).collect();
        let first_ts: Vec<i64> = firsts.visitors.values().map(|v| v.0).collect();
        let purchases: Vec<Option<i64>> = firsts.visitors.values().map(|v| v.1).collect();
        // LEAST skips NULLs, as SQLite's COALESCE(MIN(…), …) does.
        transaction.execute(
            &format!(
                "INSERT INTO visitors (shop_id, visitor_id, first_ts, first_purchase_ts)
                 SELECT s, v, f, p FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
                    WITH ORDINALITY AS u(s, v, f, p, n)
                 ORDER BY n
                 ON CONFLICT (shop_id, visitor_id) DO UPDATE SET
                    first_ts = LEAST(visitors.first_ts, excluded.first_ts),
                    first_purchase_ts =
                        LEAST(visitors.first_purchase_ts, excluded.first_purchase_ts)
                 WHERE {VISITOR_IS_EARLIER}"
            ),
            &[&shops, &visitors, &first_ts, &purchases],
        )?;
    }
    Ok(())
}

/// Records the days of the batch's sessions in `session_spans` ([`session_spans`]' rules, as
/// SQLite's writer does), and deletes every shop's day rows of the days that folded one of
/// them as contained and are stale now.
///
/// Row locks are taken in key order, so concurrent consumers never deadlock: first the spans
/// of sessions new to the store are inserted (`ON CONFLICT DO NOTHING`, which waits for a
/// concurrent insert of the same session and then skips it); then, in a new snapshot that sees
/// those commits, the others are locked (`FOR UPDATE`) and widened. A stale day's shared
/// advisory lock is taken before its rows are deleted, so a roll-up of that day in progress
/// (which read the old span) commits first and its rows are the ones deleted.
pub(super) fn record_spans(
    transaction: &mut Transaction<'_>,
    sessions: &[(u64, i64)],
) -> Result<(), StoreError> {
    let spans = session_spans::batch_spans(sessions);
    if spans.is_empty() {
        return Ok(());
    }
    let keys: Vec<i64> = spans.iter().map(|(s, _)| *s as i64).collect();
    let firsts: Vec<i64> = spans.iter().map(|(_, (f, _))| *f).collect();
    let lasts: Vec<i64> = spans.iter().map(|(_, (_, l))| *l).collect();
    let inserted: HashSet<i64> = transaction
        .query(
            "INSERT INTO session_spans (session, first_day, last_day)
             SELECT s, f, l FROM unnest($1::int8[], $2::int8[], $3::int8[])
                WITH ORDINALITY AS u(s, f, l, n)
             ORDER BY n
             ON CONFLICT (session) DO NOTHING RETURNING session",
            &[&keys, &firsts, &lasts],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let known: HashMap<i64, (i64, i64)> = transaction
        .query(
            "SELECT session, first_day, last_day FROM session_spans WHERE session = ANY($1)
             ORDER BY session FOR UPDATE",
            &[&keys],
        )?
        .iter()
        .filter(|row| row.try_get(0).is_ok_and(|s: i64| !inserted.contains(&s)))
        .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
        .collect::<Result<_, postgres::Error>>()?;
    let mut wider: (Vec<i64>, Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new(), Vec::new());
    let mut stale: BTreeSet<i64> = BTreeSet::new();
    for (session, added) in &spans {
        let key = *session as i64;
        if inserted.contains(&key) {
            continue;
        }
        let Some(((first, last), stale_day)) =
            session_spans::widen(known.get(&key).copied(), *added)
        else {
            continue;
        };
        stale.extend(stale_day);
        wider.0.push(key);
        wider.1.push(first);
        wider.2.push(last);
    }
    if !wider.0.is_empty() {
        transaction.execute(
            "UPDATE session_spans SET first_day = u.f, last_day = u.l
             FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS u(s, f, l)
             WHERE session_spans.session = u.s",
            &[&wider.0, &wider.1, &wider.2],
        )?;
    }
    for day in &stale {
        transaction.execute(
            "SELECT pg_advisory_xact_lock_shared($1, $2)",
            &[&DAY_LOCKS, &day_number(*day)],
        )?;
    }
    if !stale.is_empty() {
        let days: Vec<i64> = stale.into_iter().collect();
        transaction.execute("DELETE FROM people_days WHERE day = ANY($1)", &[&days])?;
    }
    Ok(())
}
