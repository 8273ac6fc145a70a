//! The metric queries. Each takes an [`EventFilter`] and returns the aggregates that
//! [`crate::metrics`] turns into rounded numbers.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use crate::metrics::EventTotals;

/// Which events a query looks at: one shop or all, and a time range (`from` inclusive, `to`
/// exclusive, in microseconds since 1970 UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub shop_id: Option<String>,
    pub from_micros: Option<i64>,
    pub to_micros: Option<i64>,
}

impl EventFilter {
    /// The `WHERE` conditions (joined with `AND`, starting with `AND`) and their parameters.
    pub fn sql_conditions(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        if let Some(shop_id) = &self.shop_id {
            sql.push_str(" AND shop_id = ?");
            params.push(Value::Text(shop_id.clone()));
        }
        if let Some(from) = self.from_micros {
            sql.push_str(" AND ts_micros >= ?");
            params.push(Value::Integer(from));
        }
        if let Some(to) = self.to_micros {
            sql.push_str(" AND ts_micros < ?");
            params.push(Value::Integer(to));
        }
        (sql, params)
    }
}

/// The aggregate columns over raw rows, in the order [`totals_from_row`] reads them: counts by
/// type, purchases with an amount, the amount summed in whole units and remainders separately
/// (so that no sum of millionths can overflow SQLite's 64-bit integers), maximum and minimum.
pub(crate) const RAW_TOTALS: &str = "COUNT(*) FILTER (WHERE event_type = 'page_view'),
    COUNT(*) FILTER (WHERE event_type = 'add_to_cart'),
    COUNT(*) FILTER (WHERE event_type = 'purchase'),
    COUNT(amount_micros) FILTER (WHERE event_type = 'purchase'),
    COALESCE(SUM(amount_micros / 1000000) FILTER (WHERE event_type = 'purchase'), 0),
    COALESCE(SUM(amount_micros % 1000000) FILTER (WHERE event_type = 'purchase'), 0),
    MAX(amount_micros) FILTER (WHERE event_type = 'purchase'),
    MIN(amount_micros) FILTER (WHERE event_type = 'purchase')";

/// An amount summed as whole units and remainders, back in exact micro-units.
pub(crate) fn exact_revenue(units: i64, rest: i64) -> i128 {
    i128::from(units) * 1_000_000 + i128::from(rest)
}

/// Reads the eight columns of [`RAW_TOTALS`] (or the same sums from the rollups), starting at
/// column `first`.
pub(crate) fn totals_from_row(
    row: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<EventTotals> {
    Ok(EventTotals {
        page_views: row.get(first)?,
        add_to_carts: row.get(first + 1)?,
        purchases: row.get(first + 2)?,
        priced_purchases: row.get(first + 3)?,
        revenue_micros: exact_revenue(row.get(first + 4)?, row.get(first + 5)?),
        max_amount_micros: row.get(first + 6)?,
        min_amount_micros: row.get(first + 7)?,
    })
}

/// Counts by type and the exact amount aggregates of purchases, in one pass.
pub fn event_totals(
    connection: &Connection,
    filter: &EventFilter,
) -> Result<EventTotals, StoreError> {
    let (conditions, params) = filter.sql_conditions();
    let sql = format!("SELECT {RAW_TOTALS} FROM events WHERE 1 = 1{conditions}");
    let mut statement = connection.prepare_cached(&sql)?;
    let totals = statement.query_row(rusqlite::params_from_iter(params), |row| {
        totals_from_row(row, 0)
    })?;
    Ok(totals)
}

/// The product with the most page views; ties go to the smallest id in byte order.
pub fn top_viewed_product(
    connection: &Connection,
    filter: &EventFilter,
) -> Result<Option<String>, StoreError> {
    let (conditions, params) = filter.sql_conditions();
    let sql = format!(
        "SELECT product_id FROM events
         WHERE event_type = 'page_view' AND product_id IS NOT NULL{conditions}
         GROUP BY product_id ORDER BY COUNT(*) DESC, product_id ASC LIMIT 1"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::store::Writer;
    use serde_json::json;

    fn store_with(events: &[serde_json::Value]) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let events: Vec<Event> = events
            .iter()
            .map(|v| {
                Event::from_json(v.clone(), chrono::Utc::now(), crate::event::new_event_id)
                    .expect("valid")
            })
            .collect();
        writer.insert_batch(&events).expect("stores");
        (dir, Connection::open(&path).expect("opens"))
    }

    fn view(product: &str, at: &str, shop: &str) -> serde_json::Value {
        json!({"event_type": "page_view", "timestamp": at, "product_id": product, "shop_id": shop})
    }

    #[test]
    fn ties_for_the_top_product_go_to_the_smallest_id_in_byte_order() {
        let t = "2025-10-02T10:00:00Z";
        let (_dir, connection) =
            store_with(&[view("b", t, "s"), view("a", t, "s"), view("B", t, "s")]);
        assert_eq!(
            top_viewed_product(&connection, &EventFilter::default()).expect("query"),
            Some("B".into())
        );
    }

    #[test]
    fn filters_narrow_by_shop_and_half_open_range() {
        let (_dir, connection) = store_with(&[
            view("a", "2025-10-02T00:00:00Z", "one"),
            view("a", "2025-10-02T23:59:59Z", "one"),
            view("a", "2025-10-03T00:00:00Z", "one"),
            view("a", "2025-10-02T12:00:00Z", "two"),
        ]);
        let day = EventFilter {
            shop_id: Some("one".into()),
            from_micros: Some(1_759_363_200_000_000),
            to_micros: Some(1_759_449_600_000_000),
        };
        assert_eq!(
            event_totals(&connection, &day).expect("query").page_views,
            2
        );
        assert_eq!(
            event_totals(&connection, &EventFilter::default())
                .expect("query")
                .page_views,
            4
        );
    }

    #[test]
    fn amounts_are_summed_exactly() {
        let purchases: Vec<_> = (0..10)
            .map(|_| json!({"event_type": "purchase", "timestamp": "2025-10-02T10:00:00Z", "order_amount": 0.1}))
            .collect();
        let (_dir, connection) = store_with(&purchases);
        let totals = event_totals(&connection, &EventFilter::default()).expect("query");
        assert_eq!(totals.revenue_micros, 1_000_000);
        assert_eq!(totals.priced_purchases, 10);
    }
}
