//! The §9 questions that sums can answer: totals, totals over time, per product, per
//! currency, per shop.
//!
//! With [`Plan::Rollup`] a range is cut in three: the whole 15-minute buckets inside it are
//! read from the rollups, and the ragged edges (a range from 10:07 to 18:52) from the raw rows,
//! which the `(ts_micros)` and `(shop_id, ts_micros)` indexes reach directly. Product sums
//! over a range read the day rows of the rolled-up UTC days inside it instead of their
//! 15-minute rows (see [`days`]). The answer is exact either way. [`Plan::Raw`] reads every row, which is what the benchmark and the
//! property test compare against.

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::days;
use super::people::FastHash;
use super::product_days::{self, Span};
use super::queries::{EventFilter, RAW_TOTALS, event_totals, exact_revenue, totals_from_row};
use super::rollup::{self, ALL_SHOPS, BUCKET_MICROS, UNDATED_BUCKET, bucket_of};
use crate::metrics::EventTotals;

/// How a question is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Whole 15-minute buckets from the rollups, edges from the raw rows.
    Rollup,
    /// Every row from the raw table.
    Raw,
}

/// A range cut into what the rollups answer and what the raw rows answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    /// Buckets `[from, to)` to read from the rollups; `None` bounds are open, and a fully open
    /// range includes the undated bucket (as an unfiltered raw query counts undated rows).
    rollup: Option<(Option<i64>, Option<i64>)>,
    /// Ranges of `ts_micros` to read from the raw rows.
    raw: Vec<(Option<i64>, Option<i64>)>,
}

fn split(from: Option<i64>, to: Option<i64>, plan: Plan) -> Split {
    if plan == Plan::Raw {
        return Split {
            rollup: None,
            raw: vec![(from, to)],
        };
    }
    if from.is_none() && to.is_none() {
        return Split {
            rollup: Some((None, None)),
            raw: Vec::new(),
        };
    }
    // The first whole bucket at or after `from`, and the end of the last whole one before `to`.
    let start = from.map(|f| {
        let floor = bucket_of(f);
        if floor == f {
            f
        } else {
            floor.saturating_add(BUCKET_MICROS)
        }
    });
    let end = to.map(bucket_of);
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Split {
            rollup: None,
            raw: vec![(from, to)],
        };
    }
    let mut raw = Vec::new();
    if let (Some(f), Some(s)) = (from, start)
        && f < s
    {
        raw.push((Some(f), Some(s)));
    }
    if let (Some(e), Some(t)) = (end, to)
        && e < t
    {
        raw.push((Some(e), Some(t)));
    }
    // A range open at the start must still leave the undated bucket out.
    let rollup_start = start.unwrap_or(UNDATED_BUCKET + 1);
    Split {
        rollup: Some((Some(rollup_start), end)),
        raw,
    }
}

/// `shop_id = ? AND bucket >= ? AND bucket < ?` for a rollup table.
fn rollup_conditions(
    shop_id: Option<&str>,
    range: (Option<i64>, Option<i64>),
) -> (String, Vec<Value>) {
    let mut sql = String::from("shop_id = ?");
    let mut params = vec![Value::Text(shop_id.unwrap_or(ALL_SHOPS).to_owned())];
    if let Some(from) = range.0 {
        sql.push_str(" AND bucket >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = range.1 {
        sql.push_str(" AND bucket < ?");
        params.push(Value::Integer(to));
    }
    (sql, params)
}

fn raw_filter(shop_id: Option<&str>, range: (Option<i64>, Option<i64>)) -> EventFilter {
    EventFilter {
        shop_id: shop_id.map(str::to_owned),
        from_micros: range.0,
        to_micros: range.1,
    }
}

fn add_totals(into: &mut EventTotals, other: &EventTotals) {
    into.page_views += other.page_views;
    into.add_to_carts += other.add_to_carts;
    into.purchases += other.purchases;
    into.priced_purchases += other.priced_purchases;
    into.revenue_micros += other.revenue_micros;
    into.max_amount_micros = match (into.max_amount_micros, other.max_amount_micros) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    into.min_amount_micros = match (into.min_amount_micros, other.min_amount_micros) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

/// Counts and amounts over a filter: the original metrics and the summary's sums.
pub fn totals(
    connection: &Connection,
    filter: &EventFilter,
    plan: Plan,
) -> Result<EventTotals, StoreError> {
    let split = split(filter.from_micros, filter.to_micros, plan);
    let mut totals = EventTotals::default();
    if let Some(range) = split.rollup {
        let (conditions, params) = rollup_conditions(filter.shop_id.as_deref(), range);
        let sql = format!(
            "SELECT COALESCE(SUM(page_views), 0), COALESCE(SUM(add_to_carts), 0),
                COALESCE(SUM(purchases), 0), COALESCE(SUM(priced_purchases), 0),
                COALESCE(SUM(revenue_units), 0), COALESCE(SUM(revenue_rest), 0),
                MAX(max_amount), MIN(min_amount)
             FROM rollup_events WHERE {conditions}"
        );
        let rolled = connection
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(params), |row| {
                totals_from_row(row, 0)
            })?;
        add_totals(&mut totals, &rolled);
    }
    for range in split.raw {
        let raw = event_totals(connection, &raw_filter(filter.shop_id.as_deref(), range))?;
        add_totals(&mut totals, &raw);
    }
    Ok(totals)
}

/// Totals per time slot of `grain_micros` (slot start → totals), only slots with events.
///
/// The rollups can answer only when the grain is the rollup's own 15 minutes; any other grain
/// (a minute) is read raw. Undated rows belong to no slot.
pub fn totals_by_slot(
    connection: &Connection,
    filter: &EventFilter,
    grain_micros: i64,
    plan: Plan,
) -> Result<BTreeMap<i64, EventTotals>, StoreError> {
    let grain = grain_micros.max(1);
    let plan = if grain == BUCKET_MICROS {
        plan
    } else {
        Plan::Raw
    };
    let from = Some(filter.from_micros.unwrap_or(UNDATED_BUCKET + 1));
    let split = split(from, filter.to_micros, plan);
    let mut slots: BTreeMap<i64, EventTotals> = BTreeMap::new();
    let mut add = |slot: i64, cell: EventTotals| add_totals(slots.entry(slot).or_default(), &cell);
    if let Some(range) = split.rollup {
        let (conditions, params) = rollup_conditions(filter.shop_id.as_deref(), range);
        let sql = format!(
            "SELECT bucket, page_views, add_to_carts, purchases, priced_purchases,
                revenue_units, revenue_rest, max_amount, min_amount
             FROM rollup_events WHERE {conditions}"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            add(row.get(0)?, totals_from_row(row, 1)?);
        }
    }
    for range in split.raw {
        let (conditions, params) = raw_filter(filter.shop_id.as_deref(), range).sql_conditions();
        // The grain is an integer this function chose, so it is spelled into the SQL.
        let sql = format!(
            "SELECT ts_micros - ((ts_micros % {grain}) + {grain}) % {grain} AS slot, {RAW_TOTALS}
             FROM events WHERE ts_micros IS NOT NULL{conditions} GROUP BY slot"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            add(row.get(0)?, totals_from_row(row, 1)?);
        }
    }
    Ok(slots)
}

/// One product's sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductTotals {
    pub product_id: String,
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub priced_purchases: u64,
    pub revenue_micros: i128,
}

/// Sums per product id while a question is answered.
pub(super) type ProductMap = HashMap<String, ProductTotals, FastHash>;

impl ProductTotals {
    /// Adds to the sums of `product` in `products`, starting them if missing; the id is
    /// copied only then, not for every row.
    pub(super) fn add_to(
        products: &mut ProductMap,
        product: &str,
        add: impl FnOnce(&mut ProductTotals),
    ) {
        match products.get_mut(product) {
            Some(totals) => add(totals),
            None => {
                let mut totals = ProductTotals {
                    product_id: product.to_owned(),
                    ..ProductTotals::default()
                };
                add(&mut totals);
                products.insert(product.to_owned(), totals);
            }
        }
    }
}

/// Sums per product (events without a product left out), in no particular order; only
/// `product_id` when given.
///
/// A bounded range reads the day rows of the product rollups for the whole UTC days inside it
/// that are rolled up, and the 15-minute rows for the rest; all time reads the all-time rows.
pub fn product_totals(
    connection: &Connection,
    filter: &EventFilter,
    product_id: Option<&str>,
    plan: Plan,
) -> Result<Vec<ProductTotals>, StoreError> {
    let shop = filter.shop_id.as_deref();
    let split = split(filter.from_micros, filter.to_micros, plan);
    let mut products = ProductMap::default();
    let only_product = |(mut conditions, mut params): (String, Vec<Value>)| {
        if let Some(product) = product_id {
            conditions.push_str(" AND product_id = ?");
            params.push(Value::Text(product.to_owned()));
        }
        (conditions, params)
    };
    match split.rollup {
        // All time: one row per product, not one per product and bucket.
        Some((None, None)) => {
            let (conditions, params) = only_product((
                String::from("shop_id = ?"),
                vec![Value::Text(shop.unwrap_or(ALL_SHOPS).to_owned())],
            ));
            add_product_rows(
                connection,
                &format!(
                    "SELECT product_id, page_views, add_to_carts, purchases, priced_purchases,
                        revenue_units, revenue_rest
                     FROM rollup_product_totals WHERE {conditions}"
                ),
                params,
                Sign::Add,
                &mut products,
            )?;
        }
        Some((from, to)) => {
            let rolled_up = days::rolled_up_days(connection, from, to)?;
            let mut day_plan = days::whole_days(from, to, &rolled_up);
            // Whole weeks replace their days; days of a week without day rows had no events.
            let weeks = product_days::rolled_up_weeks(connection, from, to)?;
            let week_of = product_days::week_of;
            day_plan
                .days
                .retain(|day| weeks.binary_search(&week_of(*day)).is_err());
            for (span, starts) in [(Span::Week, &weeks), (Span::Day, &day_plan.days)] {
                product_days::add_rows(connection, span, shop, starts, product_id, &mut products)?;
            }
            let ranges = day_plan.buckets.into_iter().map(|r| (r, Sign::Add));
            let minus = day_plan.minus.into_iter();
            let ranges = ranges.chain(minus.map(|(a, b)| ((Some(a), Some(b)), Sign::Subtract)));
            for (buckets, sign) in ranges {
                let (conditions, params) = only_product(rollup_conditions(shop, buckets));
                add_product_rows(
                    connection,
                    &format!(
                        "SELECT product_id, page_views, add_to_carts, purchases, priced_purchases,
                            revenue_units, revenue_rest
                         FROM rollup_products WHERE {conditions}"
                    ),
                    params,
                    sign,
                    &mut products,
                )?;
            }
            // A product of a subtracted part may have nothing left in the range.
            products.retain(|_, p| p.page_views + p.add_to_carts + p.purchases > 0);
        }
        None => {}
    }
    for range in split.raw {
        let (conditions, params) = only_product(raw_filter(shop, range).sql_conditions());
        add_product_rows(
            connection,
            &format!(
                "SELECT product_id,
                    COUNT(*) FILTER (WHERE event_type = 'page_view'),
                    COUNT(*) FILTER (WHERE event_type = 'add_to_cart'),
                    COUNT(*) FILTER (WHERE event_type = 'purchase'),
                    COUNT(amount_micros) FILTER (WHERE event_type = 'purchase'),
                    COALESCE(SUM(amount_micros / 1000000) FILTER (WHERE event_type = 'purchase'), 0),
                    COALESCE(SUM(amount_micros % 1000000) FILTER (WHERE event_type = 'purchase'), 0)
                 FROM events WHERE product_id IS NOT NULL{conditions} GROUP BY product_id"
            ),
            params,
            Sign::Add,
            &mut products,
        )?;
    }
    Ok(products.into_values().collect())
}

/// Whether rows are added to the sums or taken off them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Add,
    Subtract,
}

/// Adds (or subtracts) rows of `(product_id, page_views, add_to_carts, purchases,
/// priced_purchases, revenue_units, revenue_rest)` to the sums per product; a product may
/// come in many rows. Only a part of a day already added is ever subtracted.
fn add_product_rows(
    connection: &Connection,
    sql: &str,
    params: Vec<Value>,
    sign: Sign,
    products: &mut ProductMap,
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        let product = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let sums: [u64; 4] = [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?];
        let revenue = exact_revenue(row.get(5)?, row.get(6)?);
        ProductTotals::add_to(products, product, |totals| {
            let counts = [
                &mut totals.page_views,
                &mut totals.add_to_carts,
                &mut totals.purchases,
                &mut totals.priced_purchases,
            ];
            for (count, sum) in counts.into_iter().zip(sums) {
                *count = match sign {
                    Sign::Add => count.saturating_add(sum),
                    Sign::Subtract => count.saturating_sub(sum),
                };
            }
            match sign {
                Sign::Add => totals.revenue_micros += revenue,
                Sign::Subtract => totals.revenue_micros -= revenue,
            }
        });
    }
    Ok(())
}

/// Revenue per currency in micro-units, sorted by code; `XXX` for purchases without one.
/// Only currencies of purchases with an amount are listed.
pub fn revenue_by_currency(
    connection: &Connection,
    filter: &EventFilter,
    plan: Plan,
) -> Result<BTreeMap<String, i128>, StoreError> {
    let split = split(filter.from_micros, filter.to_micros, plan);
    let mut currencies: BTreeMap<String, i128> = BTreeMap::new();
    let mut read = |sql: String, params: Vec<Value>| -> Result<(), StoreError> {
        let mut statement = connection.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            *currencies.entry(row.get(0)?).or_default() += exact_revenue(row.get(1)?, row.get(2)?);
        }
        Ok(())
    };
    if let Some(range) = split.rollup {
        let (conditions, params) = rollup_conditions(filter.shop_id.as_deref(), range);
        read(
            format!(
                "SELECT currency, SUM(revenue_units), SUM(revenue_rest)
                 FROM rollup_currencies WHERE {conditions} GROUP BY currency"
            ),
            params,
        )?;
    }
    for range in split.raw {
        let (conditions, params) = raw_filter(filter.shop_id.as_deref(), range).sql_conditions();
        read(
            format!(
                "SELECT COALESCE(currency, 'XXX'), SUM(amount_micros / 1000000),
                    SUM(amount_micros % 1000000)
                 FROM events WHERE event_type = 'purchase' AND amount_micros IS NOT NULL{conditions}
                 GROUP BY 1"
            ),
            params,
        )?;
    }
    Ok(currencies)
}

/// One shop's activity in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopActivity {
    pub shop_id: String,
    pub events: u64,
    /// Event times in microseconds UTC; `None` when the shop has only undated rows.
    pub first_seen_micros: Option<i64>,
    pub last_seen_micros: Option<i64>,
}

/// Every shop with events in the range (or the one shop of the filter), by shop id.
pub fn shops(
    connection: &Connection,
    filter: &EventFilter,
    plan: Plan,
) -> Result<Vec<ShopActivity>, StoreError> {
    let shop_ids: Vec<String> = match (&filter.shop_id, plan) {
        (Some(shop), _) => vec![shop.clone()],
        (None, Plan::Raw) => {
            let (conditions, params) = filter.sql_conditions();
            let sql = format!("SELECT DISTINCT shop_id FROM events WHERE 1 = 1{conditions}");
            let mut statement = connection.prepare_cached(&sql)?;
            statement
                .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
                .collect::<Result<_, _>>()?
        }
        (None, Plan::Rollup) => rollup::shop_ids(connection)?,
    };
    let mut shops = Vec::new();
    for shop_id in shop_ids {
        let shop_filter = EventFilter {
            shop_id: Some(shop_id.clone()),
            ..filter.clone()
        };
        let totals = totals(connection, &shop_filter, plan)?;
        let events = totals.page_views + totals.add_to_carts + totals.purchases;
        if events == 0 {
            continue;
        }
        let (first_seen_micros, last_seen_micros) = match time_span(connection, &shop_filter)? {
            Some((first, last)) => (Some(first), Some(last)),
            None => (None, None),
        };
        shops.push(ShopActivity {
            shop_id,
            events,
            first_seen_micros,
            last_seen_micros,
        });
    }
    shops.sort_by(|a, b| a.shop_id.cmp(&b.shop_id));
    Ok(shops)
}

/// The first and last event time matching a filter, for a time series without bounds and
/// for shops. Two ordered `LIMIT 1` reads, each a seek on the `(ts_micros)` or
/// `(shop_id, ts_micros)` index (SQLite scans when `MIN` and `MAX` are asked together).
pub fn time_span(
    connection: &Connection,
    filter: &EventFilter,
) -> Result<Option<(i64, i64)>, StoreError> {
    let (conditions, params) = filter.sql_conditions();
    let edge = |order: &str| -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT ts_micros FROM events WHERE ts_micros IS NOT NULL{conditions}
             ORDER BY ts_micros {order} LIMIT 1"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    };
    Ok(match (edge("ASC")?, edge("DESC")?) {
        (Some(first), Some(last)) => Some((first, last)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: i64 = BUCKET_MICROS;

    #[test]
    fn an_aligned_range_is_all_rollup() {
        assert_eq!(
            split(Some(Q), Some(5 * Q), Plan::Rollup),
            Split {
                rollup: Some((Some(Q), Some(5 * Q))),
                raw: vec![]
            }
        );
    }

    #[test]
    fn ragged_edges_are_read_raw() {
        assert_eq!(
            split(Some(Q + 7), Some(5 * Q + 3), Plan::Rollup),
            Split {
                rollup: Some((Some(2 * Q), Some(5 * Q))),
                raw: vec![(Some(Q + 7), Some(2 * Q)), (Some(5 * Q), Some(5 * Q + 3))]
            }
        );
    }

    #[test]
    fn a_range_inside_one_bucket_is_read_raw() {
        assert_eq!(
            split(Some(Q + 1), Some(2 * Q - 1), Plan::Rollup),
            Split {
                rollup: None,
                raw: vec![(Some(Q + 1), Some(2 * Q - 1))]
            }
        );
    }

    #[test]
    fn open_ranges_leave_undated_rows_out_unless_fully_open() {
        assert_eq!(
            split(None, Some(Q), Plan::Rollup).rollup,
            Some((Some(UNDATED_BUCKET + 1), Some(Q)))
        );
        assert_eq!(split(None, None, Plan::Rollup).rollup, Some((None, None)));
        assert_eq!(
            split(Some(Q), None, Plan::Rollup).rollup,
            Some((Some(Q), None))
        );
    }
}
