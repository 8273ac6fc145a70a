//! Day rows: one row per shop and ended UTC day, holding what the 15-minute rollups cannot
//! hold cheaply, packed into blobs — every product's sums of the day ([`product_days`], which
//! also sums ended weeks of them into week rows) and the day's visitors and sessions, whole
//! and per 15-minute bucket ([`people_days`]). A month's product ranking then reads a few
//! week and day rows instead of one row per product per 15 minutes, and a month's visitors
//! are counted without reading a raw row.
//!
//! A day is rolled up in its own transaction once it is over ([`roll_up_next_day`], which the
//! consumer runs in the background). The writer deletes a day's rows in the insert's
//! transaction whenever it adds events to that day ([`forget_days`]; a late event), so a day
//! row either describes exactly the stored events of its day or does not exist, and the next
//! pass builds it again. Queries read the 15-minute rows or the raw rows for days without
//! one. Like the 15-minute rows, day rows therefore never drift from the events.
//!
//! The all-shops row (`shop_id = ''`) of a day marks the day as rolled up: a shop without a
//! row for a rolled-up day had no events that day.
//!
//! [`product_days`]: super::product_days
//! [`people_days`]: super::people_days

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::rollup::{self, ALL_SHOPS, BUCKET_MICROS, UNDATED_BUCKET};
use super::{StoreError, people_days, product_days};

/// One day row covers this much UTC time: 96 rollup buckets.
pub const DAY_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// How long after its end a day is rolled up, so that events arriving a little late (a
/// consumer catching up, clocks a little apart) land before, not after.
pub const SETTLE_MICROS: i64 = 60 * 60 * 1_000_000;

/// The start of the UTC day holding `ts_micros`.
pub fn day_of(ts_micros: i64) -> i64 {
    ts_micros.div_euclid(DAY_MICROS).saturating_mul(DAY_MICROS)
}

/// Deletes the day rows of `(shop, day)` keys, and the week rows of their weeks, in the
/// insert's transaction (the keys hold the all-shops id too): those days gained events, so
/// their rows are stale.
pub(super) fn forget_days(
    transaction: &Transaction<'_>,
    shop_days: &BTreeSet<(&str, i64)>,
) -> Result<(), StoreError> {
    let mut delete_day =
        transaction.prepare_cached("DELETE FROM rollup_days WHERE shop_id = ?1 AND day = ?2")?;
    let mut delete_week = transaction
        .prepare_cached("DELETE FROM rollup_product_weeks WHERE shop_id = ?1 AND week = ?2")?;
    for (shop, day) in shop_days {
        delete_day.execute(params![shop, day])?;
        delete_week.execute(params![shop, product_days::week_of(*day)])?;
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
        "INSERT OR REPLACE INTO rollup_days (shop_id, day, products, people)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for shop in shops_with_events(&transaction, day)? {
        let products = product_days::build(&transaction, &shop, day)?;
        let people = people.remove(&shop).unwrap_or_default();
        write.execute(params![shop, day, products, people])?;
    }
    drop(write);
    product_days::roll_up_week(&transaction, day, now_micros)?;
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
        .prepare_cached("SELECT day FROM rollup_days WHERE shop_id = ?1")?
        .query_map([ALL_SHOPS], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let ended_before = day_of(now_micros.saturating_sub(SETTLE_MICROS));
    // One seek per day with events: the first bucket at or after the day's start.
    let mut next_bucket = connection.prepare_cached(
        "SELECT bucket FROM rollup_events WHERE shop_id = ?1 AND bucket >= ?2 AND bucket < ?3
         ORDER BY bucket LIMIT 1",
    )?;
    let mut from = UNDATED_BUCKET + 1;
    while let Some(bucket) = next_bucket
        .query_row(params![ALL_SHOPS, from, ended_before], |row| {
            row.get::<_, i64>(0)
        })
        .optional()?
    {
        let day = day_of(bucket);
        if !rolled.contains(&day) && !busy.contains(&day) {
            return Ok(Some(day));
        }
        from = day + DAY_MICROS;
    }
    Ok(None)
}

/// Every shop with events in a day, and the all-shops id first.
fn shops_with_events(connection: &Connection, day: i64) -> Result<Vec<String>, StoreError> {
    let mut shops = vec![ALL_SHOPS.to_owned()];
    for shop in rollup::shop_ids(connection)? {
        if rollup::has_events(connection, &shop, (day, day + DAY_MICROS))? {
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
        "SELECT day FROM rollup_days WHERE shop_id = ?1 AND day >= ?2 AND day < ?3 ORDER BY day",
    )?;
    let days = statement
        .query_map(
            params![ALL_SHOPS, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(days)
}

/// Where the product sums of a bucket range are read from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WholeDays {
    /// Days answered by their day rows.
    pub days: Vec<i64>,
    /// Bucket ranges `[from, to)` answered by the 15-minute rows; `None` is open.
    pub buckets: Vec<(Option<i64>, Option<i64>)>,
    /// Bucket ranges to subtract again: the parts outside the range of a day in `days` that
    /// the range holds most of (a day minus 4 buckets reads fewer rows than 92 buckets).
    pub minus: Vec<(i64, i64)>,
}

/// Splits the bucket range `[from, to)` (bounds on bucket starts; `None` is open) into the
/// rolled-up days it holds wholly or mostly and the 15-minute ranges around and between them.
pub fn whole_days(from: Option<i64>, to: Option<i64>, rolled_up: &[i64]) -> WholeDays {
    let mut plan = WholeDays::default();
    let mut cursor = from;
    for &day in rolled_up {
        let end = day.saturating_add(DAY_MICROS);
        let start = from.map_or(day, |f| f.max(day));
        let stop = to.map_or(end, |t| t.min(end));
        // Days held less than half are read as buckets, with the gap after them.
        if stop.saturating_sub(start).saturating_mul(2) <= DAY_MICROS {
            continue;
        }
        if cursor.is_none_or(|c| c < start) {
            plan.buckets.push((cursor, Some(start)));
        }
        plan.days.push(day);
        plan.minus.extend(
            [(day, start), (stop, end)]
                .into_iter()
                .filter(|(a, b)| a < b),
        );
        cursor = Some(stop);
    }
    if cursor.is_none_or(|c| to.is_none_or(|t| c < t)) {
        plan.buckets.push((cursor, to));
    }
    plan
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
    fn rolled_up_days_inside_the_range_replace_their_buckets() {
        let plan = whole_days(Some(D - 2 * Q), Some(4 * D + Q), &[D, 2 * D, 4 * D]);
        assert_eq!(plan.days, vec![D, 2 * D]);
        assert_eq!(
            plan.buckets,
            vec![(Some(D - 2 * Q), Some(D)), (Some(3 * D), Some(4 * D + Q))]
        );
        assert_eq!(plan.minus, vec![]);
    }

    #[test]
    fn a_day_held_mostly_is_read_whole_minus_the_rest() {
        let plan = whole_days(Some(D + 4 * Q), Some(2 * D + 60 * Q), &[D, 2 * D]);
        assert_eq!(plan.days, vec![D, 2 * D]);
        assert_eq!(plan.buckets, vec![]);
        assert_eq!(plan.minus, vec![(D, D + 4 * Q), (2 * D + 60 * Q, 3 * D)]);
        // Held less than half: buckets.
        let plan = whole_days(Some(D), Some(D + 48 * Q), &[D]);
        assert_eq!(
            (plan.days, plan.buckets),
            (vec![], vec![(Some(D), Some(D + 48 * Q))])
        );
    }

    #[test]
    fn open_ranges_take_every_rolled_up_day() {
        let plan = whole_days(None, None, &[0, D]);
        assert_eq!(plan.days, vec![0, D]);
        assert_eq!(plan.buckets, vec![(None, Some(0)), (Some(2 * D), None)]);
        assert_eq!(plan.minus, vec![]);
        assert_eq!(
            whole_days(Some(5), Some(10), &[]).buckets,
            vec![(Some(5), Some(10))]
        );
    }

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

    #[test]
    fn days_start_at_utc_midnight_also_before_1970() {
        assert_eq!(day_of(D + 1), D);
        assert_eq!(day_of(-1), -D);
    }
}
