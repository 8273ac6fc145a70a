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
//! The same roll-up writes the day rows per attributed value (`people_value_days`: per
//! dimension, shop and value, the people of the events credited to it) and marks them
//! current (`people_value_marks`). The mark goes with the day's rows, and also alone when a
//! session with events on the day changes its attribution ([`forget_value_days`]); a day
//! without its mark is rolled up again, and read raw by value until then.
//!
//! [`people_days`]: super::people_days

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::backend::ReadBackend;
use super::grain::{ALL_SHOPS, DAY_MICROS, Grain, day_of};
use super::{StoreError, people_days};
use domain::dimension::Dimension;

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
    let mut unmark = transaction.prepare_cached("DELETE FROM people_value_marks WHERE day = ?1")?;
    for (shop, day) in shop_days {
        delete_day.execute(params![shop, day])?;
        unmark.execute([day])?;
    }
    Ok(())
}

/// Marks the day rows per attributed value of the days `[first, last]` (day starts) stale in
/// the insert's transaction: a session with events on those days changed its attribution, so
/// they filed its run under its old value. The next roll-up of each day builds them again;
/// readers read those days raw until then.
pub(super) fn forget_value_days(
    transaction: &Connection,
    (first, last): (i64, i64),
) -> Result<(), StoreError> {
    transaction
        .prepare_cached("DELETE FROM people_value_marks WHERE day >= ?1 AND day <= ?2")?
        .execute([first, last])?;
    Ok(())
}

/// Deletes every shop's day rows of `days`: a session they folded as contained in its day has
/// gained an event on another ([`session_spans`](super::session_spans)).
pub(super) fn forget_whole_days(transaction: &Connection, days: &[i64]) -> Result<(), StoreError> {
    let mut delete_day = transaction.prepare_cached("DELETE FROM people_days WHERE day = ?1")?;
    let mut unmark = transaction.prepare_cached("DELETE FROM people_value_marks WHERE day = ?1")?;
    for day in days {
        delete_day.execute([day])?;
        unmark.execute([day])?;
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
    let rows = people_days::build(&*transaction, day, true)?;
    let mut people = rows.shops;
    let mut write = transaction.prepare_cached(
        "INSERT OR REPLACE INTO people_days (shop_id, day, whole, buckets) VALUES (?1, ?2, ?3, ?4)",
    )?;
    // Every shop with events gets a row, empty when its events name nobody; the all-shops
    // row marks the day as rolled up.
    for shop in shops_with_events(&transaction, day)? {
        let blobs = people
            .remove(&shop)
            .unwrap_or_else(people_days::DayBlobs::empty);
        write.execute(params![shop, day, blobs.whole, blobs.buckets])?;
    }
    drop(write);
    // The rows per attributed value: a value without people that day has none (the rows of a
    // stale build go first), and the mark says they are current.
    transaction.execute("DELETE FROM people_value_days WHERE day = ?1", [day])?;
    let mut write = transaction.prepare_cached(
        "INSERT INTO people_value_days (day, dimension, shop_id, value, whole, buckets)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (dimension, shop, value, blobs) in rows.values {
        write.execute(params![
            day,
            dimension.name(),
            shop,
            value,
            blobs.whole,
            blobs.buckets
        ])?;
    }
    drop(write);
    transaction.execute(
        "INSERT OR REPLACE INTO people_value_marks (day) VALUES (?1)",
        [day],
    )?;
    transaction.commit()?;
    Ok(Some(day))
}

/// The earliest day that ended at least [`SETTLE_MICROS`] ago, has events, has no all-shops
/// day row or no current rows per attributed value, and is not `busy`.
fn next_day_to_roll_up(
    connection: &Connection,
    now_micros: i64,
    busy: &BTreeSet<i64>,
) -> Result<Option<i64>, StoreError> {
    // Rolled up: both kinds of rows are current (the rows per value go stale alone when a
    // session changes its attribution).
    let rolled: BTreeSet<i64> = connection
        .prepare_cached(
            "SELECT d.day FROM people_days d JOIN people_value_marks m ON m.day = d.day
             WHERE d.shop_id = ?1",
        )?
        .query_map([ALL_SHOPS], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let ended_before = day_of(now_micros.saturating_sub(SETTLE_MICROS));
    // The days with events are the all-shops totals rows of the day grain.
    let mut next_day = connection.prepare_cached(
        "SELECT bucket FROM rollups WHERE shop_id = ?1 AND dimension = ?2 AND grain = ?3
            AND bucket >= ?4 AND bucket < ?5
         ORDER BY bucket LIMIT 1",
    )?;
    // Days before the retention horizon have no raw events left to roll up.
    let mut from = super::retention::people_since(connection)?.unwrap_or(i64::MIN);
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
    for shop in connection.rollup_shop_ids()? {
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
