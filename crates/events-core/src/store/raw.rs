//! Reads of raw event rows: the edges of a range that no rollup bucket fits, the raw plan the
//! rollups are tested against, and the people passes' events in time order.

use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::filter::EventFilter;
use crate::dimension::Facts;
use crate::event::EventType;
use crate::people::{FastHash, PersonEvent, fingerprint};

/// Hands `visit` the time (`None` when undated) and the [`Facts`] of every raw event of a
/// filter, in no particular order.
pub fn for_each_fact(
    connection: &Connection,
    filter: &EventFilter,
    mut visit: impl FnMut(Option<i64>, &Facts<'_>),
) -> Result<(), StoreError> {
    let (conditions, params) = filter.sql_conditions();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT ts_micros, event_type, amount_micros, product_id, currency
         FROM events WHERE 1 = 1{conditions}"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        let text = |i: usize| -> Result<Option<&str>, rusqlite::Error> {
            Ok(row.get_ref(i)?.as_str_or_null()?)
        };
        // Rows of an unknown type (impossible through ingestion) count nowhere.
        let Some(event_type) = text(1)?.and_then(EventType::parse) else {
            continue;
        };
        let facts = Facts {
            event_type,
            amount_micros: row.get(2)?,
            product_id: text(3)?,
            currency: text(4)?,
        };
        visit(row.get(0)?, &facts);
    }
    Ok(())
}

/// The first and last event time matching a filter, for a time series without bounds and
/// for shops. Two ordered `LIMIT 1` reads, each a seek on the `(ts_micros, …)` or
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

/// Reads the raw events of a filter that have a session or a visitor (only `product_id`'s
/// when given) in time order, ties in arrival order, and hands each to `visit`. Returns the
/// shop ids that [`PersonEvent::shop`] indexes.
pub fn read_in_order(
    connection: &Connection,
    filter: &EventFilter,
    product_id: Option<&str>,
    mut visit: impl FnMut(&PersonEvent),
) -> Result<Vec<String>, StoreError> {
    let (mut conditions, mut params) = filter.sql_conditions();
    if let Some(product) = product_id {
        conditions.push_str(" AND product_id = ?");
        params.push(Value::Text(product.to_owned()));
    }
    // Ordered by time only, so the covering index serves the order; events of the same
    // microsecond are put in arrival order (`id`) below.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT ts_micros, id, event_type, session_id, visitor_id, shop_id FROM events
         WHERE (session_id IS NOT NULL OR visitor_id IS NOT NULL){conditions}
         ORDER BY ts_micros"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut shops: Vec<String> = Vec::new();
    let mut shop_index: HashMap<String, usize, FastHash> = HashMap::default();
    let mut same_time: Vec<(i64, PersonEvent)> = Vec::new();
    let flush = |same_time: &mut Vec<(i64, PersonEvent)>, visit: &mut dyn FnMut(&PersonEvent)| {
        same_time.sort_by_key(|(id, _)| *id);
        for (_, event) in same_time.drain(..) {
            visit(&event);
        }
    };
    while let Some(row) = rows.next()? {
        let ts_micros = row.get::<_, Option<i64>>(0)?.unwrap_or(i64::MIN);
        if same_time
            .first()
            .is_some_and(|(_, first)| first.ts_micros != ts_micros)
        {
            flush(&mut same_time, &mut visit);
        }
        let text = |i: usize| -> Result<Option<&str>, rusqlite::Error> {
            Ok(row.get_ref(i)?.as_str_or_null()?)
        };
        let Some(event_type) = text(2)?.and_then(EventType::parse) else {
            continue;
        };
        let shop_id = text(5)?.unwrap_or_default();
        let shop = match shop_index.get(shop_id) {
            Some(&index) => index,
            None => {
                shops.push(shop_id.to_owned());
                shop_index.insert(shop_id.to_owned(), shops.len() - 1);
                shops.len() - 1
            }
        };
        let event = PersonEvent {
            ts_micros,
            shop,
            event_type,
            session: text(3)?.map(fingerprint),
            visitor: text(4)?.map(fingerprint),
        };
        same_time.push((row.get(1)?, event));
    }
    flush(&mut same_time, &mut visit);
    Ok(shops)
}
