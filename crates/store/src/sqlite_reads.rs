//! SQLite's answers to the [`ReadBackend`] reads, over the schema of
//! [`migrations`](super::migrations).

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::attribution::FIRST_EVENT_ATTRIBUTES;
use super::backend::{AttributedEvent, DayPart, ReadBackend, RollupRows, ValueDay, VisitValueDay};
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, Grain, UNDATED_BUCKET};
use domain::attribution::{Attribute, Attributed, Filters};
use domain::dimension::Facts;
use domain::event::EventType;
use domain::people::{FastHash, PersonEvent, fingerprint};
use domain::sessions::FirstsInRange;
use domain::sums::Sums;

impl ReadBackend for Connection {
    fn rollup_rows(
        &self,
        rows: RollupRows<'_>,
        visit: &mut dyn FnMut(i64, &str, &Sums),
    ) -> Result<(), StoreError> {
        let columns: Vec<&str> = Sums::MEASURES.iter().map(|m| m.column).collect();
        let mut sql = format!(
            "SELECT bucket, value, {} FROM rollups WHERE shop_id = ? AND dimension = ? AND grain = ?",
            columns.join(", ")
        );
        let mut params = vec![
            Value::Text(rows.shop.to_owned()),
            Value::Text(rows.dimension.name().to_owned()),
            Value::Integer(rows.grain.code()),
        ];
        // An open start still leaves the undated bucket out, as a bounded raw read does.
        let from = match (rows.grain, rows.from) {
            (Grain::Quarter, None) => Some(UNDATED_BUCKET + 1),
            (_, from) => from,
        };
        for (bound, condition) in [(from, " AND bucket >= ?"), (rows.to, " AND bucket < ?")] {
            if let Some(bound) = bound {
                sql.push_str(condition);
                params.push(Value::Integer(bound));
            }
        }
        if let Some(value) = rows.only {
            sql.push_str(" AND value = ?");
            params.push(Value::Text(value.to_owned()));
        }
        let mut statement = self.prepare_cached(&sql)?;
        let mut result = statement.query(rusqlite::params_from_iter(params))?;
        let mut values = vec![None; Sums::MEASURES.len()];
        while let Some(row) = result.next()? {
            for (i, value) in values.iter_mut().enumerate() {
                *value = row.get(i + 2)?;
            }
            let value = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            visit(row.get(0)?, value, &Sums::from_values(&values));
        }
        Ok(())
    }

    fn raw_facts(
        &self,
        filter: &EventFilter,
        credited: bool,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError> {
        facts(self, filter, (false, filters), credited, visit)
    }

    fn unfolded_facts(
        &self,
        filter: &EventFilter,
        credited: bool,
        visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError> {
        // By rowid, past the watermark: never through a time index over the whole range.
        facts(self, filter, (true, &Filters::default()), credited, visit)
    }

    fn person_events(
        &self,
        filter: &EventFilter,
        product_id: Option<&str>,
        filters: &Filters,
        visit: &mut dyn FnMut(&PersonEvent),
    ) -> Result<Vec<String>, StoreError> {
        person_events(self, filter, (product_id, filters), visit)
    }

    /// Two ordered `LIMIT 1` reads, each a seek on the `(ts_micros, …)` or
    /// `(shop_id, ts_micros)` index (SQLite scans when `MIN` and `MAX` are asked together).
    fn time_span(&self, filter: &EventFilter) -> Result<Option<(i64, i64)>, StoreError> {
        let (conditions, params) = filter.sql_conditions();
        let edge = |order: &str| -> Result<Option<i64>, StoreError> {
            let sql = format!(
                "SELECT ts_micros FROM events WHERE ts_micros IS NOT NULL{conditions}
                 ORDER BY ts_micros {order} LIMIT 1"
            );
            let mut statement = self.prepare_cached(&sql)?;
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

    /// A seek per shop on the rollups' primary key, as many steps as there are shops, and
    /// the shops of the unfolded rows.
    fn rollup_shop_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut next_shop = self.prepare_cached(
            "SELECT shop_id FROM rollups WHERE shop_id > ?1 ORDER BY shop_id LIMIT 1",
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
        let mut unfolded = self.prepare_cached(&format!(
            "SELECT DISTINCT shop_id FROM events NOT INDEXED WHERE {UNFOLDED_CONDITION}"
        ))?;
        for shop in unfolded.query_map([], |row| row.get::<_, String>(0))? {
            shops.push(shop?);
        }
        shops.sort_unstable();
        shops.dedup();
        Ok(shops)
    }

    fn raw_shop_ids(&self, filter: &EventFilter) -> Result<Vec<String>, StoreError> {
        let (conditions, params) = filter.sql_conditions();
        let sql = format!("SELECT DISTINCT shop_id FROM events WHERE 1 = 1{conditions}");
        let mut statement = self.prepare_cached(&sql)?;
        let shops = statement
            .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(shops)
    }

    fn people_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.prepare_cached(
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

    fn people_since(&self) -> Result<Option<i64>, StoreError> {
        super::retention::people_since(self)
    }

    fn people_day(
        &self,
        shop: &str,
        day: i64,
        part: DayPart,
        visit: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // SQLite reads a row's payload only up to the column asked for, and `whole` comes
        // first: a whole day never reads the buckets' pages.
        let mut statement = self.prepare_cached(match part {
            DayPart::Whole => "SELECT whole FROM people_days WHERE shop_id = ?1 AND day = ?2",
            DayPart::Buckets => "SELECT buckets FROM people_days WHERE shop_id = ?1 AND day = ?2",
        })?;
        let mut rows = statement.query(params![shop, day])?;
        match rows.next()? {
            Some(row) => visit(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?),
            None => Ok(()),
        }
    }

    fn value_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        let mut statement = self.prepare_cached(
            "SELECT day FROM people_value_marks WHERE day >= ?1 AND day < ?2 ORDER BY day",
        )?;
        let days = statement
            .query_map(
                params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
                |row| row.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(days)
    }

    fn value_day(
        &self,
        key: ValueDay<'_>,
        part: DayPart,
        visit: VisitValueDay<'_>,
    ) -> Result<(), StoreError> {
        let column = part.column();
        let one = if key.value.is_some() {
            " AND value = ?4"
        } else {
            ""
        };
        let mut statement = self.prepare_cached(&format!(
            "SELECT value, {column} FROM people_value_days
             WHERE day = ?1 AND dimension = ?2 AND shop_id = ?3{one}"
        ))?;
        let dimension = key.dimension.name();
        let mut rows = match key.value {
            Some(value) => statement.query(params![key.day, dimension, key.shop, value])?,
            None => statement.query(params![key.day, dimension, key.shop])?,
        };
        while let Some(row) = rows.next()? {
            let value = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            visit(
                value,
                row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?,
            )?;
        }
        Ok(())
    }

    fn attributed_events(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(&AttributedEvent<'_>),
    ) -> Result<(), StoreError> {
        super::sqlite_segment::attributed_events(self, filter, filters, visit)
    }

    fn page_views(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<&str>, Option<&str>),
    ) -> Result<(), StoreError> {
        super::sqlite_segment::page_views(self, filter, filters, visit)
    }

    fn visitor_firsts(
        &self,
        shop: Option<&str>,
        visit: &mut dyn FnMut(&str, i64, Option<i64>),
    ) -> Result<(), StoreError> {
        super::sqlite_segment::visitor_firsts(self, shop, visit)
    }

    fn firsts_in_range(
        &self,
        shop: Option<&str>,
        (from, to): (Option<i64>, Option<i64>),
        filters: &Filters,
    ) -> Result<FirstsInRange, StoreError> {
        if filters.is_empty() {
            super::attribution::firsts_in_range(self, shop, from, to)
        } else {
            super::sqlite_segment::firsts_in_range(self, shop, (from, to), filters)
        }
    }

    fn bot_events(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        super::sqlite_segment::bot_events(self, filter)
    }

    fn session_spans(
        &self,
        sessions: &[u64],
        visit: &mut dyn FnMut(u64, (i64, i64)),
    ) -> Result<(), StoreError> {
        super::session_spans::read_spans(self, sessions, visit)
    }
}

/// The raw rows the rollups do not hold yet.
const UNFOLDED_CONDITION: &str = "id > (SELECT last_event_id FROM rollup_progress)";

/// The time and facts of the raw rows of a filter (only the unfolded ones when asked) that
/// `filters` select, with what they are credited to when asked or filtered.
fn facts(
    connection: &Connection,
    filter: &EventFilter,
    (unfolded_only, filters): (bool, &Filters),
    credited: bool,
    visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
) -> Result<(), StoreError> {
    let (conditions, mut params) = filter.sql_conditions();
    let from = if unfolded_only {
        format!("NOT INDEXED WHERE {UNFOLDED_CONDITION}")
    } else {
        "WHERE 1 = 1".to_owned()
    };
    let credited = credited || !filters.is_empty();
    let sql = if !filters.is_empty() {
        // A segment's: its events joined with their sessions, narrowed by the filters.
        let (selection, selected) = super::sqlite_segment::selection_sql(filter, filters);
        params = selected;
        let attributes: Vec<String> = Attribute::ALL
            .iter()
            .map(|a| super::sqlite_segment::attribute_sql(*a))
            .collect();
        format!(
            "SELECT e.ts_micros, e.event_type, e.amount_micros, e.product_id, e.currency, {}
             {selection}",
            attributes.join(", ")
        )
    } else if credited {
        // The events selected first (the filter's columns are unqualified), then joined.
        let attributes: Vec<String> = Attribute::ALL
            .iter()
            .map(|a| super::sqlite_segment::attribute_sql(*a))
            .collect();
        format!(
            "SELECT e.ts_micros, e.event_type, e.amount_micros, e.product_id, e.currency, {}
             FROM (SELECT ts_micros, event_type, amount_micros, product_id, currency, shop_id,
                    session_id, path, {} FROM events {from}{conditions}) e
                LEFT JOIN sessions s ON s.shop_id = e.shop_id AND s.session_id = e.session_id",
            attributes.join(", "),
            FIRST_EVENT_ATTRIBUTES.map(Attribute::column).join(", ")
        )
    } else {
        format!(
            "SELECT ts_micros, event_type, amount_micros, product_id, currency
             FROM events {from}{conditions}"
        )
    };
    let mut statement = connection.prepare_cached(&sql)?;
    let mut result = statement.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = result.next()? {
        let text = |i: usize| -> Result<Option<&str>, rusqlite::Error> {
            Ok(row.get_ref(i)?.as_str_or_null()?)
        };
        // Rows of an unknown type (impossible through ingestion) count nowhere.
        let Some(event_type) = text(1)?.and_then(EventType::parse) else {
            continue;
        };
        let mut attributed = Attributed::default();
        if credited {
            for (i, value) in attributed.values.iter_mut().enumerate() {
                *value = text(5 + i)?;
            }
        }
        let facts = Facts {
            event_type,
            amount_micros: row.get(2)?,
            product_id: text(3)?,
            currency: text(4)?,
            attributed,
        };
        visit(row.get(0)?, &facts);
    }
    Ok(())
}

/// Events of the same microsecond come from the covering index in index order; they are put
/// in arrival order (`id`) here.
fn person_events(
    connection: &Connection,
    filter: &EventFilter,
    (product_id, filters): (Option<&str>, &Filters),
    visit: &mut dyn FnMut(&PersonEvent),
) -> Result<Vec<String>, StoreError> {
    // Unfiltered, the covering index alone; filtered, the events joined with their sessions
    // (the people columns only, not the attribution of each).
    let (from, mut conditions, mut params) = if filters.is_empty() {
        let (conditions, params) = filter.sql_conditions();
        ("FROM events e WHERE 1 = 1".to_owned(), conditions, params)
    } else {
        let (selection, params) = super::sqlite_segment::selection_sql(filter, filters);
        (selection, String::new(), params)
    };
    if let Some(product) = product_id {
        conditions.push_str(" AND e.product_id = ?");
        params.push(Value::Text(product.to_owned()));
    }
    // Ordered by time only, so the covering index serves the order; events of the same
    // microsecond are put in arrival order (`id`) below.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT e.ts_micros, e.id, e.event_type, e.session_id, e.visitor_id, e.shop_id {from}
            AND (e.session_id IS NOT NULL OR e.visitor_id IS NOT NULL){conditions}
         ORDER BY e.ts_micros"
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
            flush(&mut same_time, visit);
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
    flush(&mut same_time, visit);
    Ok(shops)
}
