//! Day rows of people: one row per shop and ended UTC day holding the day's visitors and
//! sessions, whole and per 15-minute bucket ([`people_days`]), so that a month's visitors are
//! counted without reading a raw row. Sums need no day rows: the rollups keep a day grain.
//!
//! A day is rolled up in its own transaction once it is over ([`roll_up_next_day`], which the
//! consumer runs in the background). The writer deletes a day's rows in the insert's
//! transaction whenever it adds events to that day ([`forget_days`]; a late event), so a day
//! row either describes exactly the stored events of its day or does not exist, and the next
//! pass builds it again. People passes read the raw rows for days without one, so day rows
//! never drift from the events.
//!
//! The all-shops row (`shop_id = ''`) of a day marks the day as rolled up: a shop without a
//! row for a rolled-up day had no events with people that day.
//!
//! [`people_days`]: super::people_days

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::grain::{ALL_SHOPS, BUCKET_MICROS, DAY_MICROS, Grain, day_of};
use super::{StoreError, people_days, read};
use crate::dimension::Dimension;

/// How long after its end a day is rolled up, so that events arriving a little late (a
/// consumer catching up, clocks a little apart) land before, not after.
pub const SETTLE_MICROS: i64 = 60 * 60 * 1_000_000;

/// Deletes the day rows of `(shop, day)` keys in the insert's transaction (the keys hold the
/// all-shops id too): those days gained events, so their rows are stale.
pub(super) fn forget_days(
    transaction: &Connection,
    shop_days: &[(&str, i64)],
) -> Result<(), StoreError> {
    let mut delete_day =
        transaction.prepare_cached("DELETE FROM people_days WHERE shop_id = ?1 AND day = ?2")?;
    for (shop, day) in shop_days {
        delete_day.execute(params![shop, day])?;
    }
    Ok(())
}

/// Rolls up the earliest ended day that has events but no day rows and is not `busy`, in one
/// immediate transaction; returns that day, or `None` when there is none.
pub fn roll_up_next_day(
    connection: &mut Connection,
    now_micros: i64,
    busy: &BTreeSet<i64>,
) -> Result<Option<i64>, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(day) = next_day_to_roll_up(&transaction, now_micros, busy)? else {
        return Ok(None);
    };
    let mut people = people_days::build(&transaction, day)?;
    let mut write = transaction.prepare_cached(
        "INSERT OR REPLACE INTO people_days (shop_id, day, people) VALUES (?1, ?2, ?3)",
    )?;
    // Every shop with events gets a row, empty when its events name nobody; the all-shops
    // row marks the day as rolled up.
    for shop in shops_with_events(&transaction, day)? {
        let blob = people.remove(&shop).unwrap_or_default();
        write.execute(params![shop, day, blob])?;
    }
    drop(write);
    transaction.commit()?;
    Ok(Some(day))
}

/// The earliest day that ended at least [`SETTLE_MICROS`] ago, has events, has no all-shops
/// day row, and is not `busy`.
fn next_day_to_roll_up(
    connection: &Connection,
    now_micros: i64,
    busy: &BTreeSet<i64>,
) -> Result<Option<i64>, StoreError> {
    let rolled: BTreeSet<i64> = connection
        .prepare_cached("SELECT day FROM people_days WHERE shop_id = ?1")?
        .query_map([ALL_SHOPS], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let ended_before = day_of(now_micros.saturating_sub(SETTLE_MICROS));
    // The days with events are the all-shops totals rows of the day grain.
    let mut next_day = connection.prepare_cached(
        "SELECT bucket FROM rollups WHERE shop_id = ?1 AND dimension = ?2 AND grain = ?3
            AND bucket >= ?4 AND bucket < ?5
         ORDER BY bucket LIMIT 1",
    )?;
    let mut from = i64::MIN;
    while let Some(day) = next_day
        .query_row(
            params![
                ALL_SHOPS,
                Dimension::Total.name(),
                Grain::Day.code(),
                from,
                ended_before
            ],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
    {
        if !rolled.contains(&day) && !busy.contains(&day) {
            return Ok(Some(day));
        }
        from = day + DAY_MICROS;
    }
    Ok(None)
}

/// Every shop with events in a day, and the all-shops id first: a seek per shop on the
/// rollups' day rows.
fn shops_with_events(connection: &Connection, day: i64) -> Result<Vec<String>, StoreError> {
    let mut has_events = connection.prepare_cached(
        "SELECT 1 FROM rollups WHERE shop_id = ?1 AND dimension = ?2 AND grain = ?3 AND bucket = ?4",
    )?;
    let mut shops = vec![ALL_SHOPS.to_owned()];
    for shop in read::shop_ids(connection)? {
        if has_events.exists(params![
            shop,
            Dimension::Total.name(),
            Grain::Day.code(),
            day
        ])? {
            shops.push(shop);
        }
    }
    Ok(shops)
}

/// The rolled-up days that start in `[from, to)` (`None` is open), ascending.
pub fn rolled_up_days(
    connection: &Connection,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT day FROM people_days WHERE shop_id = ?1 AND day >= ?2 AND day < ?3 ORDER BY day",
    )?;
    let days = statement
        .query_map(
            params![ALL_SHOPS, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(days)
}

/// A stretch of time a people pass reads, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stretch {
    /// Raw rows with `ts_micros` in `[from, to)`; `None` is open.
    Raw(Option<i64>, Option<i64>),
    /// The buckets `[from, to)` of a rolled-up day, from its day row.
    Day { day: i64, from: i64, to: i64 },
}

/// Cuts the time range `[from, to)` into stretches, in time order: the whole 15-minute
/// buckets of rolled-up days (`rolled_up` ascending, as [`rolled_up_days`] gives them) come
/// from day rows, everything else from raw rows.
pub fn stretches(from: Option<i64>, to: Option<i64>, rolled_up: &[i64]) -> Vec<Stretch> {
    let ceil = |t: i64| {
        let floor = t.div_euclid(BUCKET_MICROS) * BUCKET_MICROS;
        if floor == t { t } else { floor + BUCKET_MICROS }
    };
    let floor = |t: i64| t.div_euclid(BUCKET_MICROS) * BUCKET_MICROS;
    let mut out = Vec::new();
    let mut cursor = from;
    let raw_until = |cursor: Option<i64>, until: Option<i64>, out: &mut Vec<Stretch>| {
        let empty = matches!((cursor, until), (Some(c), Some(u)) if c >= u);
        if !empty {
            out.push(Stretch::Raw(cursor, until));
        }
    };
    for &day in rolled_up {
        let start = from.map_or(day, |f| ceil(f).max(day));
        let end = to.map_or(day + DAY_MICROS, |t| floor(t).min(day + DAY_MICROS));
        if start >= end {
            continue;
        }
        raw_until(cursor, Some(start), &mut out);
        out.push(Stretch::Day {
            day,
            from: start,
            to: end,
        });
        cursor = Some(end);
    }
    raw_until(cursor, to, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_MICROS;
    const Q: i64 = BUCKET_MICROS;

    #[test]
    fn people_read_whole_buckets_of_rolled_up_days_and_raw_rows_around_them() {
        assert_eq!(
            stretches(Some(D + 7), Some(3 * D + Q + 5), &[D, 3 * D]),
            vec![
                Stretch::Raw(Some(D + 7), Some(D + Q)),
                Stretch::Day {
                    day: D,
                    from: D + Q,
                    to: 2 * D
                },
                Stretch::Raw(Some(2 * D), Some(3 * D)),
                Stretch::Day {
                    day: 3 * D,
                    from: 3 * D,
                    to: 3 * D + Q
                },
                Stretch::Raw(Some(3 * D + Q), Some(3 * D + Q + 5)),
            ]
        );
        assert_eq!(
            stretches(None, None, &[D]),
            vec![
                Stretch::Raw(None, Some(D)),
                Stretch::Day {
                    day: D,
                    from: D,
                    to: 2 * D
                },
                Stretch::Raw(Some(2 * D), None),
            ]
        );
        // Inside one bucket: nothing whole to read from the day row.
        assert_eq!(
            stretches(Some(D + 1), Some(D + 2), &[D]),
            vec![Stretch::Raw(Some(D + 1), Some(D + 2))]
        );
    }
}
