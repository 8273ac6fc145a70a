//! The products blob of a day row (see [`days`](super::days)): every product's sums over one
//! UTC day, summed from the day's 15-minute product rows; and week rows, the same blob summed
//! over seven day rows.
//!
//! Layout, per product in product order: the id's length and bytes, then page views, carts,
//! purchases, purchases with an amount, revenue units and revenue rest, each a varint.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::StoreError;
use super::aggregates::{ProductMap, ProductTotals};
use super::days::{DAY_MICROS, SETTLE_MICROS};
use super::queries::exact_revenue;
use super::rollup::{self, ALL_SHOPS};
use super::varint;

/// One product's sums over a day or week, as the 15-minute rows hold them: page views, carts,
/// purchases, purchases with an amount, revenue units and revenue rest.
type Sums = [i64; 6];

/// The products blob of `shop` for the day starting at `day`.
pub(super) fn build(connection: &Connection, shop: &str, day: i64) -> Result<Vec<u8>, StoreError> {
    let mut read = connection.prepare_cached(
        "SELECT product_id, page_views, add_to_carts, purchases, priced_purchases,
            revenue_units, revenue_rest
         FROM rollup_products WHERE shop_id = ?1 AND bucket >= ?2 AND bucket < ?3",
    )?;
    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    let mut rows = read.query(params![shop, day, day + DAY_MICROS])?;
    while let Some(row) = rows.next()? {
        let entry = sums.entry(row.get(0)?).or_default();
        for (field, sum) in entry.iter_mut().enumerate() {
            *sum += row.get::<_, i64>(field + 1)?;
        }
    }
    Ok(encode(sums.into_iter()))
}

fn encode(sums: impl Iterator<Item = (String, Sums)>) -> Vec<u8> {
    let mut blob = Vec::new();
    for (product, day) in sums {
        varint::put_u64(&mut blob, product.len() as u64);
        blob.extend_from_slice(product.as_bytes());
        for field in day {
            varint::put_i64(&mut blob, field);
        }
    }
    blob
}

fn decode(mut blob: &[u8], mut visit: impl FnMut(&str, Sums)) -> Result<(), &'static str> {
    while !blob.is_empty() {
        let length = usize::try_from(varint::take_u64(&mut blob)?).map_err(|_| "long id")?;
        let id = varint::take_bytes(&mut blob, length)?;
        let product = std::str::from_utf8(id).map_err(|_| "id is not UTF-8")?;
        let mut fields = [0; 6];
        for field in &mut fields {
            *field = varint::take_i64(&mut blob)?;
        }
        visit(product, fields);
    }
    Ok(())
}

/// The rows that hold products blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Day rows, keyed by the day's start.
    Day,
    /// Week rows, keyed by the week's start.
    Week,
}

/// Adds the products blobs of the day or week rows of `shop` (all shops when `None`) starting
/// at `starts` (ascending) into `products`; only `product_id` when given.
pub fn add_rows(
    connection: &Connection,
    span: Span,
    shop_id: Option<&str>,
    starts: &[i64],
    product_id: Option<&str>,
    products: &mut ProductMap,
) -> Result<(), StoreError> {
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(());
    };
    let mut statement = connection.prepare_cached(match span {
        Span::Day => {
            "SELECT day, products FROM rollup_days WHERE shop_id = ?1 AND day >= ?2 AND day <= ?3"
        }
        Span::Week => {
            "SELECT week, products FROM rollup_product_weeks
             WHERE shop_id = ?1 AND week >= ?2 AND week <= ?3"
        }
    })?;
    let mut rows = statement.query(params![shop_id.unwrap_or(ALL_SHOPS), first, last])?;
    while let Some(row) = rows.next()? {
        let start: i64 = row.get(0)?;
        if starts.binary_search(&start).is_err() {
            continue;
        }
        let blob = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        decode(blob, |product, sums| {
            if product_id.is_some_and(|wanted| wanted != product) {
                return;
            }
            let [page_views, add_to_carts, purchases, priced, units, rest] = sums;
            ProductTotals::add_to(products, product, |totals| {
                totals.page_views += page_views.unsigned_abs();
                totals.add_to_carts += add_to_carts.unsigned_abs();
                totals.purchases += purchases.unsigned_abs();
                totals.priced_purchases += priced.unsigned_abs();
                totals.revenue_micros += exact_revenue(units, rest);
            });
        })
        .map_err(|reason| StoreError::Corrupt(format!("products of {start}: {reason}")))?;
    }
    Ok(())
}

/// Week rows: the products blobs of seven day rows summed, Monday to Sunday UTC, so that a
/// month's ranking reads three or four week rows and a few day rows instead of 30 day rows.
pub const WEEK_MICROS: i64 = 7 * DAY_MICROS;

/// 1970-01-05, the first Monday after the epoch: weeks start on Mondays.
const FIRST_MONDAY: i64 = 4 * DAY_MICROS;

/// The start of the week (Monday 00:00 UTC) holding `ts_micros`.
pub fn week_of(ts_micros: i64) -> i64 {
    ts_micros
        .saturating_sub(FIRST_MONDAY)
        .div_euclid(WEEK_MICROS)
        .saturating_mul(WEEK_MICROS)
        .saturating_add(FIRST_MONDAY)
}

/// Rolls up the week holding `day`, in the caller's transaction, once it has ended and every
/// one of its days with events has its day rows; a week row is then the sum of its day rows,
/// and it is deleted with them when the week gains events (`days::forget_days`).
pub(super) fn roll_up_week(
    connection: &Connection,
    day: i64,
    now_micros: i64,
) -> Result<(), StoreError> {
    let week = week_of(day);
    let end = week + WEEK_MICROS;
    if end.saturating_add(SETTLE_MICROS) > now_micros {
        return Ok(());
    }
    let mut is_rolled_up =
        connection.prepare_cached("SELECT 1 FROM rollup_days WHERE shop_id = ?1 AND day = ?2")?;
    for start in (week..end).step_by(DAY_MICROS as usize) {
        if rollup::has_events(connection, ALL_SHOPS, (start, start + DAY_MICROS))?
            && !is_rolled_up.exists(params![ALL_SHOPS, start])?
        {
            return Ok(());
        }
    }
    let mut read = connection.prepare_cached(
        "SELECT shop_id, products FROM rollup_days WHERE day >= ?1 AND day < ?2 ORDER BY shop_id",
    )?;
    let mut sums: BTreeMap<String, BTreeMap<String, Sums>> = BTreeMap::new();
    let mut rows = read.query(params![week, end])?;
    while let Some(row) = rows.next()? {
        let shop_sums = sums.entry(row.get(0)?).or_default();
        let blob = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        decode(blob, |product, day| {
            let entry = shop_sums.entry(product.to_owned()).or_default();
            for (sum, field) in entry.iter_mut().zip(day) {
                *sum += field;
            }
        })
        .map_err(|reason| StoreError::Corrupt(format!("products of week {week}: {reason}")))?;
    }
    sums.entry(ALL_SHOPS.to_owned()).or_default();
    let mut write = connection.prepare_cached(
        "INSERT OR REPLACE INTO rollup_product_weeks (shop_id, week, products) VALUES (?1, ?2, ?3)",
    )?;
    for (shop, products) in sums {
        write.execute(params![shop, week, encode(products.into_iter())])?;
    }
    Ok(())
}

/// The rolled-up weeks that lie wholly in `[from, to)` (`None` is open), ascending.
pub fn rolled_up_weeks(
    connection: &Connection,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT week FROM rollup_product_weeks WHERE shop_id = ?1 AND week >= ?2 AND week <= ?3
         ORDER BY week",
    )?;
    let last_start = to.map_or(i64::MAX, |t| t.saturating_sub(WEEK_MICROS));
    let weeks = statement
        .query_map(
            params![ALL_SHOPS, from.unwrap_or(i64::MIN), last_start],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(weeks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums() -> Vec<(String, Sums)> {
        vec![
            ("b".to_owned(), [0; 6]),
            (
                "prod-ä".to_owned(),
                [3, 0, 200, 199, 123_456_789_012, -999_999],
            ),
        ]
    }

    #[test]
    fn sums_survive_the_blob() {
        let mut decoded = Vec::new();
        decode(&encode(sums().into_iter()), |product, day| {
            decoded.push((product.to_owned(), day));
        })
        .expect("decodes");
        assert_eq!(decoded, sums());
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        let monday: chrono::DateTime<chrono::Utc> = "2025-10-20T00:00:00Z".parse().expect("a time");
        let monday = monday.timestamp_micros();
        assert_eq!(week_of(monday), monday);
        assert_eq!(week_of(monday + WEEK_MICROS - 1), monday);
        assert_eq!(week_of(monday - 1), monday - WEEK_MICROS);
        assert_eq!(week_of(0), FIRST_MONDAY - WEEK_MICROS);
    }

    #[test]
    fn a_damaged_blob_is_an_error_not_a_panic() {
        let blob = encode(sums().into_iter());
        assert!(decode(&blob[..blob.len() - 1], |_, _| {}).is_err());
        for cut in 1..blob.len() {
            // A cut between two products reads as fewer products; any other is an error.
            let _ = decode(&blob[..cut], |_, _| {});
        }
    }
}
