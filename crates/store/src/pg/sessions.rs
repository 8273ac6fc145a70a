//! What a PostgreSQL batch records about its sessions and visitors, in the batch's
//! transaction: each session's attribution and each visitor's first times (`sessions`,
//! `visitors`), and the days each session spans (`session_spans`). The rules are the store's
//! own ([`attribution`](crate::attribution), [`session_spans`]); this module is their
//! PostgreSQL statements, taking row locks in key order.

use std::collections::{BTreeSet, HashMap, HashSet};

use postgres::Transaction;

use super::day_locks::{DAY_LOCKS, day_number};
use crate::attribution::{Credit, FIRST_EVENT_ATTRIBUTES, TakeOver, VISITOR_IS_EARLIER};
use crate::grain::day_of;
use crate::rollups::Deltas;
use crate::{StoreError, session_spans};
use domain::dimension::Facts;
use domain::event::{Event, EventType};

/// What a batch's sessions are credited to once it is recorded, and which of them it took
/// over from the credit their stored events had.
#[derive(Debug, Default)]
pub(super) struct BatchCredits<'e> {
    pub sessions: HashMap<(&'e str, &'e str), Credit>,
    pub taken_over: Vec<TakeOver<'e>>,
}

/// Records the batch's sessions' attribution and visitors' first times
/// ([`attribution`](crate::attribution)'s rules, as SQLite's writer does), rows in key order so
/// concurrent consumers never deadlock: the sessions new to the store are inserted
/// (`ON CONFLICT DO NOTHING`, which waits for a concurrent insert of the same session and then
/// skips it); then, in a new snapshot that sees those commits, the others are locked
/// (`FOR UPDATE`), read, and updated where the batch takes them over. Holding every batch
/// session's row lock until the commit is what keeps the rollups exact: a concurrent batch
/// adding events to one of them waits, and then sees these events and this credit.
pub(super) fn record_attribution<'e>(
    transaction: &mut Transaction<'_>,
    stored: &[(&'e Event, i64)],
) -> Result<BatchCredits<'e>, StoreError> {
    let firsts = crate::attribution::batch_firsts(stored);
    let mut credits = BatchCredits::default();
    if !firsts.sessions.is_empty() {
        let batch: Vec<((&str, &str), Credit)> = firsts
            .sessions
            .iter()
            .map(|(key, session_firsts)| (*key, Credit::of(session_firsts)))
            .collect();
        let inserted: HashSet<(String, String)> = write_sessions(transaction, &batch, true)?
            .into_iter()
            .collect();
        let others: Vec<(&str, &str)> = batch
            .iter()
            .map(|(key, _)| *key)
            .filter(|(shop, session)| {
                !inserted.contains(&((*shop).to_owned(), (*session).to_owned()))
            })
            .collect();
        let mut known: HashMap<(String, String), Credit> = HashMap::new();
        if !others.is_empty() {
            let shops: Vec<&str> = others.iter().map(|k| k.0).collect();
            let sessions: Vec<&str> = others.iter().map(|k| k.1).collect();
            for row in transaction.query(
                &format!(
                    "SELECT shop_id, session_id, {} FROM sessions
                     WHERE (shop_id, session_id) IN
                        (SELECT * FROM unnest($1::text[], $2::text[]))
                     ORDER BY shop_id, session_id FOR UPDATE",
                    Credit::COLUMNS
                ),
                &[&shops, &sessions],
            )? {
                let credit = Credit::from_columns(|i| row.try_get(2 + i), |i| row.try_get(2 + i))?;
                known.insert((row.try_get(0)?, row.try_get(1)?), credit);
            }
        }
        let mut changed: Vec<((&str, &str), Credit)> = Vec::new();
        for ((shop, session), credit) in batch {
            let key = (shop.to_owned(), session.to_owned());
            let Some(old) = known.remove(&key) else {
                // Inserted by this batch (or, which the lock order rules out, gone).
                credits.sessions.insert((shop, session), credit);
                continue;
            };
            let session_firsts = &firsts.sessions[&(shop, session)];
            match old.merged(session_firsts) {
                None => {
                    credits.sessions.insert((shop, session), old);
                }
                Some(new) => {
                    changed.push(((shop, session), new.clone()));
                    credits.sessions.insert((shop, session), new.clone());
                    credits.taken_over.push(TakeOver {
                        shop,
                        session,
                        old,
                        new,
                    });
                }
            }
        }
        write_sessions(transaction, &changed, false)?;
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
        let all_shops = firsts.visitors_of_all_shops();
        let visitors: Vec<&str> = all_shops.keys().copied().collect();
        let first_ts: Vec<i64> = all_shops.values().map(|v| v.0).collect();
        let purchases: Vec<Option<i64>> = all_shops.values().map(|v| v.1).collect();
        transaction.execute(
            &format!(
                "INSERT INTO visitors_all AS visitors (visitor_id, first_ts, first_purchase_ts)
                 SELECT v, f, p FROM unnest($1::text[], $2::int8[], $3::int8[])
                    WITH ORDINALITY AS u(v, f, p, n)
                 ORDER BY n
                 ON CONFLICT (visitor_id) DO UPDATE SET
                    first_ts = LEAST(visitors.first_ts, excluded.first_ts),
                    first_purchase_ts =
                        LEAST(visitors.first_purchase_ts, excluded.first_purchase_ts)
                 WHERE {VISITOR_IS_EARLIER}"
            ),
            &[&visitors, &first_ts, &purchases],
        )?;
    }
    Ok(credits)
}

/// Writes sessions' credit, rows in key order: inserts those new to the store
/// (`inserting`; returns the keys it inserted), or updates stored ones.
fn write_sessions(
    transaction: &mut Transaction<'_>,
    rows: &[((&str, &str), Credit)],
    inserting: bool,
) -> Result<Vec<(String, String)>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let shops: Vec<&str> = rows.iter().map(|((shop, _), _)| *shop).collect();
    let sessions: Vec<&str> = rows.iter().map(|((_, session), _)| *session).collect();
    let first_ts: Vec<Option<i64>> = rows.iter().map(|(_, c)| c.first.0).collect();
    let first_id: Vec<i64> = rows.iter().map(|(_, c)| c.first.1).collect();
    let traffic: Vec<Vec<Option<&str>>> = (0..FIRST_EVENT_ATTRIBUTES.len())
        .map(|i| rows.iter().map(|(_, c)| c.traffic[i].as_deref()).collect())
        .collect();
    let landing = |(_, c): &((&str, &str), Credit)| c.landing.clone();
    let landing_ts: Vec<Option<i64>> = rows.iter().map(|r| landing(r).and_then(|l| l.0)).collect();
    let landing_id: Vec<Option<i64>> = rows.iter().map(|r| landing(r).map(|l| l.1)).collect();
    let landing_page: Vec<Option<String>> =
        rows.iter().map(|r| landing(r).and_then(|l| l.2)).collect();
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
    let source = "unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[],
            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::text[], $13::text[], $14::int8[], $15::int8[], $16::text[])
            WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13,
                c14, c15, c16, n)";
    if inserting {
        let inserted = transaction.query(
            &format!(
                "INSERT INTO sessions (shop_id, session_id, {columns})
                 SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16
                 FROM {source} ORDER BY n
                 ON CONFLICT (shop_id, session_id) DO NOTHING RETURNING shop_id, session_id",
                columns = Credit::COLUMNS,
            ),
            &params,
        )?;
        return inserted
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect();
    }
    transaction.execute(
        &format!(
            "UPDATE sessions SET ({columns}) =
                (c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16)
             FROM {source} WHERE sessions.shop_id = u.c1 AND sessions.session_id = u.c2",
            columns = Credit::COLUMNS,
        ),
        &params,
    )?;
    Ok(Vec::new())
}

/// Moves the events of the sessions `taken_over` that earlier batches summed into the rollups
/// (all their stored events but `batch`'s, the row ids of this one) to their new credit;
/// returns the days of those events whose attributed values changed, sorted, whose day rows
/// per attributed value filed them under the old ones.
pub(super) fn move_taken_over<'a>(
    transaction: &mut Transaction<'_>,
    taken_over: &'a [TakeOver<'a>],
    batch: &[i64],
    deltas: &mut Deltas<'a>,
) -> Result<Vec<i64>, StoreError> {
    let mut stale: BTreeSet<i64> = BTreeSet::new();
    if taken_over.is_empty() {
        return Ok(Vec::new());
    }
    let shops: Vec<&str> = taken_over.iter().map(|t| t.shop).collect();
    let sessions: Vec<&str> = taken_over.iter().map(|t| t.session).collect();
    let places: Vec<i64> = (0..taken_over.len() as i64).collect();
    let rows = transaction.query(
        "SELECT u.place, e.ts_micros, e.event_type, e.amount_micros
         FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(shop, session, place)
            JOIN events e ON e.shop_id = u.shop AND e.session_id = u.session
         WHERE NOT e.is_bot AND NOT (e.id = ANY($4))",
        &[&shops, &sessions, &places, &batch],
    )?;
    for row in &rows {
        let place: i64 = row.try_get(0)?;
        let Some(take_over) = usize::try_from(place).ok().and_then(|i| taken_over.get(i)) else {
            continue;
        };
        let Some(event_type) = EventType::parse(row.try_get(2)?) else {
            continue;
        };
        let facts = Facts {
            event_type,
            amount_micros: row.try_get(3)?,
            product_id: None,
            currency: None,
            attributed: take_over.old.attributed(),
        };
        let ts: Option<i64> = row.try_get(1)?;
        if let Some(ts) = ts
            && take_over.old.attributed() != take_over.new.attributed()
        {
            stale.insert(day_of(ts));
        }
        deltas.move_credit(take_over.shop, ts, &facts, &take_over.new.attributed());
    }
    Ok(stale.into_iter().collect())
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
        super::rollup_writes::forget_value_days(transaction, &days)?;
    }
    Ok(())
}
