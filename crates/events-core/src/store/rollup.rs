//! The writer's side of the rollups: what one committed batch adds to the 15-minute rows.
//!
//! The writer feeds every row it actually inserted (not the duplicates `INSERT OR IGNORE`
//! skipped) into [`Deltas`], then [`Deltas::apply`] adds them to the rollup tables inside the
//! same transaction. A batch replayed after a crash inserts nothing, so it adds nothing; a
//! batch that fails rolls back its rollups with its rows. The rollups therefore never drift
//! from the events they summarise. The same transaction deletes the day rows of every day the
//! batch adds events to (see `days`).

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use super::days::{day_of, forget_days};
use crate::event::{Event, EventType};

/// One rollup row covers this much UTC time. Every zone offset in use today is a multiple
/// of 15 minutes, so local hours, days, weeks and months are whole numbers of rows.
pub const BUCKET_MICROS: i64 = 15 * 60 * 1_000_000;

/// Where undated rows (imported from the original with an unreadable timestamp) are rolled
/// up: below every real bucket, so any bounded range leaves them out as the raw `ts_micros`
/// comparison does, while all-time totals still count them.
pub const UNDATED_BUCKET: i64 = i64::MIN;

/// The shop id of the rows that sum every shop. Real shop ids are never empty.
pub const ALL_SHOPS: &str = "";

/// The start of the 15-minute bucket holding `ts_micros` (floor, also before 1970).
pub fn bucket_of(ts_micros: i64) -> i64 {
    ts_micros.div_euclid(BUCKET_MICROS) * BUCKET_MICROS
}

/// Every shop with rollup rows, by shop id (the all-shops id left out): a seek per shop on the
/// primary key of the 15-minute event rows, as many steps as there are shops.
pub fn shop_ids(connection: &Connection) -> Result<Vec<String>, StoreError> {
    let mut next_shop = connection.prepare_cached(
        "SELECT shop_id FROM rollup_events WHERE shop_id > ?1 ORDER BY shop_id LIMIT 1",
    )?;
    let mut shops: Vec<String> = Vec::new();
    while let Some(shop) = next_shop
        .query_row([shops.last().map_or(ALL_SHOPS, String::as_str)], |row| {
            row.get::<_, String>(0)
        })
        .optional()?
    {
        shops.push(shop);
    }
    Ok(shops)
}

/// Whether `shop` has events with a time in `[from, to)`.
pub fn has_events(
    connection: &Connection,
    shop: &str,
    (from, to): (i64, i64),
) -> Result<bool, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT 1 FROM rollup_events WHERE shop_id = ?1 AND bucket >= ?2 AND bucket < ?3 LIMIT 1",
    )?;
    Ok(statement.exists(params![shop, from, to])?)
}

/// Counts and exact amounts of one rollup cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cell {
    page_views: i64,
    add_to_carts: i64,
    purchases: i64,
    priced_purchases: i64,
    revenue_units: i64,
    revenue_rest: i64,
    max_amount: Option<i64>,
    min_amount: Option<i64>,
}

impl Cell {
    fn add(&mut self, event_type: EventType, amount: Option<i64>) {
        match event_type {
            EventType::PageView => self.page_views += 1,
            EventType::AddToCart => self.add_to_carts += 1,
            EventType::Purchase => {
                self.purchases += 1;
                if let Some(amount) = amount {
                    self.add_amount(amount);
                }
            }
        }
    }

    fn add_amount(&mut self, amount: i64) {
        self.priced_purchases += 1;
        // Truncating division, as SQLite's `/` and `%` do in the raw queries.
        self.revenue_units += amount / 1_000_000;
        self.revenue_rest += amount % 1_000_000;
        self.max_amount = Some(self.max_amount.map_or(amount, |m| m.max(amount)));
        self.min_amount = Some(self.min_amount.map_or(amount, |m| m.min(amount)));
    }
}

/// What a batch adds to the rollups, summed per cell before it touches SQLite.
#[derive(Debug, Default)]
pub struct Deltas {
    events: HashMap<(String, i64), Cell>,
    products: HashMap<(String, i64, String), Cell>,
    product_totals: HashMap<(String, String), Cell>,
    currencies: HashMap<(String, i64, String), Cell>,
}

/// The `ON CONFLICT … DO UPDATE SET` part that adds a row's money counters to the stored ones.
const ADD_MONEY: &str = "priced_purchases = priced_purchases + excluded.priced_purchases,
    revenue_units = revenue_units + excluded.revenue_units,
    revenue_rest = revenue_rest + excluded.revenue_rest";

/// The same for the event counts.
const ADD_COUNTS: &str = "page_views = page_views + excluded.page_views,
    add_to_carts = add_to_carts + excluded.add_to_carts,
    purchases = purchases + excluded.purchases";

impl Deltas {
    /// Adds one inserted event, to its shop's rows and to the all-shops rows.
    pub fn add(&mut self, event: &Event) {
        let bucket = bucket_of(event.timestamp.timestamp_micros());
        let amount = match event.event_type {
            EventType::Purchase => event.amount_micros(),
            _ => None,
        };
        for shop in [event.shop_id.as_str(), ALL_SHOPS] {
            self.events
                .entry((shop.to_owned(), bucket))
                .or_default()
                .add(event.event_type, amount);
            if let Some(product) = &event.product_id {
                self.products
                    .entry((shop.to_owned(), bucket, product.clone()))
                    .or_default()
                    .add(event.event_type, amount);
                self.product_totals
                    .entry((shop.to_owned(), product.clone()))
                    .or_default()
                    .add(event.event_type, amount);
            }
            if let Some(amount) = amount {
                let currency = event.currency.clone().unwrap_or_else(|| "XXX".into());
                self.currencies
                    .entry((shop.to_owned(), bucket, currency))
                    .or_default()
                    .add_amount(amount);
            }
        }
    }

    /// The UTC days the batch added events to.
    pub fn days(&self) -> BTreeSet<i64> {
        self.events
            .keys()
            .map(|(_, bucket)| day_of(*bucket))
            .collect()
    }

    /// Adds the deltas to the rollup tables, in the caller's transaction. Every table adds its
    /// counters the same way, so the `SET` clauses are written once.
    pub fn apply(&self, transaction: &Transaction<'_>) -> Result<(), StoreError> {
        let mut events = transaction.prepare_cached(&format!(
            "INSERT INTO rollup_events (shop_id, bucket, page_views, add_to_carts, purchases,
                priced_purchases, revenue_units, revenue_rest, max_amount, min_amount)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (shop_id, bucket) DO UPDATE SET
                {ADD_COUNTS}, {ADD_MONEY},
                max_amount = COALESCE(MAX(max_amount, excluded.max_amount), max_amount, excluded.max_amount),
                min_amount = COALESCE(MIN(min_amount, excluded.min_amount), min_amount, excluded.min_amount)"
        ))?;
        let mut touched_days = BTreeSet::new();
        for ((shop, bucket), c) in &self.events {
            touched_days.insert((shop.as_str(), day_of(*bucket)));
            events.execute(params![
                shop,
                bucket,
                c.page_views,
                c.add_to_carts,
                c.purchases,
                c.priced_purchases,
                c.revenue_units,
                c.revenue_rest,
                c.max_amount,
                c.min_amount
            ])?;
        }
        forget_days(transaction, &touched_days)?;
        let mut products = transaction.prepare_cached(&format!(
            "INSERT INTO rollup_products (shop_id, bucket, product_id, page_views, add_to_carts,
                purchases, priced_purchases, revenue_units, revenue_rest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (shop_id, bucket, product_id) DO UPDATE SET
                {ADD_COUNTS}, {ADD_MONEY}"
        ))?;
        for ((shop, bucket, product), c) in &self.products {
            products.execute(params![
                shop,
                bucket,
                product,
                c.page_views,
                c.add_to_carts,
                c.purchases,
                c.priced_purchases,
                c.revenue_units,
                c.revenue_rest
            ])?;
        }
        let mut product_totals = transaction.prepare_cached(&format!(
            "INSERT INTO rollup_product_totals (shop_id, product_id, page_views, add_to_carts,
                purchases, priced_purchases, revenue_units, revenue_rest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (shop_id, product_id) DO UPDATE SET
                {ADD_COUNTS}, {ADD_MONEY}"
        ))?;
        for ((shop, product), c) in &self.product_totals {
            product_totals.execute(params![
                shop,
                product,
                c.page_views,
                c.add_to_carts,
                c.purchases,
                c.priced_purchases,
                c.revenue_units,
                c.revenue_rest
            ])?;
        }
        let mut currencies = transaction.prepare_cached(&format!(
            "INSERT INTO rollup_currencies (shop_id, bucket, currency, priced_purchases,
                revenue_units, revenue_rest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (shop_id, bucket, currency) DO UPDATE SET
                {ADD_MONEY}"
        ))?;
        for ((shop, bucket, currency), c) in &self.currencies {
            currencies.execute(params![
                shop,
                bucket,
                currency,
                c.priced_purchases,
                c.revenue_units,
                c.revenue_rest
            ])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_floor_to_fifteen_minutes_before_and_after_1970() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(BUCKET_MICROS - 1), 0);
        assert_eq!(bucket_of(BUCKET_MICROS), BUCKET_MICROS);
        assert_eq!(bucket_of(-1), -BUCKET_MICROS);
    }

    #[test]
    fn amounts_split_into_units_and_rest_like_the_raw_sql() {
        let mut cell = Cell::default();
        cell.add(EventType::Purchase, Some(99_990_000));
        cell.add(EventType::Purchase, Some(1_500_000));
        cell.add(EventType::Purchase, None);
        assert_eq!(cell.purchases, 3);
        assert_eq!(cell.priced_purchases, 2);
        assert_eq!(cell.revenue_units, 100);
        assert_eq!(cell.revenue_rest, 1_490_000);
        assert_eq!(
            (cell.max_amount, cell.min_amount),
            (Some(99_990_000), Some(1_500_000))
        );
    }
}
