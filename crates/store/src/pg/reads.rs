//! PostgreSQL's answers to the [`ReadBackend`] reads, over the schema of [`schema`](super::schema).
//!
//! The rollups hold every committed event (each batch upserts its own rows), so there is no
//! unfolded tail to add.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, Statement};

use crate::StoreError;
use crate::attribution::{FIRSTS_OF_ALL_SHOPS, FIRSTS_OF_SHOP};
use crate::backend::{AttributedEvent, DayPart, ReadBackend, RollupRows, ValueDay, VisitValueDay};
use crate::filter::EventFilter;
use crate::grain::{ALL_SHOPS, Grain, UNDATED_BUCKET};
use crate::sqlite_segment::{attribute_sql, firsts_in_range_sql, range_and_before};
use domain::attribution::{Attribute, Attributed, Filters};
use domain::dimension::Facts;
use domain::event::EventType;
use domain::people::{FastHash, PersonEvent, fingerprint};
use domain::sessions::FirstsInRange;
use domain::sums::Sums;

/// The reads over one client or transaction (a read transaction is one snapshot: the analytics
/// pool opens each request's reads as `REPEATABLE READ, READ ONLY`).
pub struct PgReads<'c, C: GenericClient> {
    client: RefCell<&'c mut C>,
    /// Statements prepared on this client, by their text: a question asks many small reads,
    /// each of which would otherwise be parsed and planned anew (two round trips, not one).
    statements: RefCell<StatementCache>,
}

/// Prepared statements of one connection, by their SQL.
pub type StatementCache = HashMap<String, Statement>;

impl<'c, C: GenericClient> PgReads<'c, C> {
    pub fn new(client: &'c mut C) -> PgReads<'c, C> {
        PgReads::with_statements(client, StatementCache::new())
    }

    /// Reads reusing the statements already prepared on `client`.
    pub fn with_statements(client: &'c mut C, statements: StatementCache) -> PgReads<'c, C> {
        PgReads {
            client: RefCell::new(client),
            statements: RefCell::new(statements),
        }
    }

    /// The prepared statements, to reuse with the same client.
    pub fn into_statements(self) -> StatementCache {
        self.statements.into_inner()
    }

    /// `sql` prepared on the client (once).
    fn statement(&self, client: &mut C, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `work` on the client of these reads (for reads outside the boundary: the export).
    pub fn with_client<T>(&self, work: impl FnOnce(&mut C) -> T) -> T {
        work(&mut self.client.borrow_mut())
    }
}

pub(super) type Params = Vec<Box<dyn ToSql + Sync>>;

/// The `WHERE` conditions of a filter over raw rows (each starting with `AND`), numbering
/// parameters after those already in `params`. Bots are stored but read by no report (as
/// SQLite's `EventFilter::sql_conditions`).
pub(super) fn conditions(filter: &EventFilter, params: &mut Params) -> String {
    format!(" AND NOT is_bot{}", bounds(filter, "", params))
}

/// The shop and time conditions of a filter over events aliased `alias` (`""` or `"e."`).
fn bounds(filter: &EventFilter, alias: &str, params: &mut Params) -> String {
    let mut sql = String::new();
    if let Some(shop_id) = &filter.shop_id {
        params.push(Box::new(shop_id.clone()));
        sql.push_str(&format!(" AND {alias}shop_id = ${}", params.len()));
    }
    if let Some(from) = filter.from_micros {
        params.push(Box::new(from));
        sql.push_str(&format!(" AND {alias}ts_micros >= ${}", params.len()));
    }
    if let Some(to) = filter.to_micros {
        params.push(Box::new(to));
        sql.push_str(&format!(" AND {alias}ts_micros < ${}", params.len()));
    }
    sql
}

/// The `FROM` and `WHERE` of the events a filter and `filters` select, events aliased `e`,
/// their sessions `s`: SQLite's [`selection_sql`](crate::sqlite_segment::selection_sql) with
/// PostgreSQL's parameters (`IS NOT DISTINCT FROM` is SQLite's `IS`).
pub(crate) fn selection(filter: &EventFilter, filters: &Filters, params: &mut Params) -> String {
    let mut sql = format!(
        "FROM events e LEFT JOIN sessions s ON s.shop_id = e.shop_id AND s.session_id = e.session_id
         WHERE NOT e.is_bot{}",
        bounds(filter, "e.", params)
    );
    for (attribute, value) in &filters.attributes {
        params.push(Box::new(value.clone()));
        sql.push_str(&format!(
            " AND ({}) IS NOT DISTINCT FROM ${}::text",
            attribute_sql(*attribute),
            params.len()
        ));
    }
    if let Some(page) = &filters.page {
        params.push(Box::new(page.clone()));
        let n = params.len();
        sql.push_str(&format!(
            " AND CASE WHEN e.session_id IS NULL
                THEN e.event_type = 'page_view' AND e.path IS NOT DISTINCT FROM ${n}::text
                ELSE (e.shop_id, e.session_id) IN (SELECT shop_id, session_id FROM events
                    WHERE event_type = 'page_view' AND path = ${n}::text
                        AND session_id IS NOT NULL AND NOT is_bot)
              END"
        ));
    }
    sql
}

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

impl<C: GenericClient> ReadBackend for PgReads<'_, C> {
    fn rollup_rows(
        &self,
        rows: RollupRows<'_>,
        visit: &mut dyn FnMut(i64, &str, &Sums),
    ) -> Result<(), StoreError> {
        let columns: Vec<&str> = Sums::MEASURES.iter().map(|m| m.column).collect();
        let mut sql = format!(
            "SELECT bucket, value, {} FROM rollups WHERE shop_id = $1 AND dimension = $2 AND grain = $3",
            columns.join(", ")
        );
        let mut params: Params = vec![
            Box::new(rows.shop.to_owned()),
            Box::new(rows.dimension.name().to_owned()),
            Box::new(rows.grain.code()),
        ];
        // An open start still leaves the undated bucket out, as a bounded raw read does.
        let from = match (rows.grain, rows.from) {
            (Grain::Quarter, None) => Some(UNDATED_BUCKET + 1),
            (_, from) => from,
        };
        for (bound, operator) in [(from, ">="), (rows.to, "<")] {
            if let Some(bound) = bound {
                params.push(Box::new(bound));
                sql.push_str(&format!(" AND bucket {operator} ${}", params.len()));
            }
        }
        if let Some(value) = rows.only {
            params.push(Box::new(value.to_owned()));
            sql.push_str(&format!(" AND value = ${}", params.len()));
        }
        sql.push_str(" ORDER BY bucket, value");
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let mut result = client.query_raw(&statement, refs(&params))?;
        let mut values = vec![None; Sums::MEASURES.len()];
        while let Some(row) = result.next()? {
            for (i, value) in values.iter_mut().enumerate() {
                *value = row.try_get(i + 2)?;
            }
            let value: &str = row.try_get(1)?;
            visit(row.try_get(0)?, value, &Sums::from_values(&values));
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
        let mut params = Params::new();
        let credited = credited || !filters.is_empty();
        let sql = if credited {
            let attributes: Vec<String> =
                Attribute::ALL.iter().map(|a| attribute_sql(*a)).collect();
            format!(
                "SELECT e.ts_micros, e.event_type, e.amount_micros, e.product_id, e.currency, {}
                 {}",
                attributes.join(", "),
                selection(filter, filters, &mut params)
            )
        } else {
            let conditions = conditions(filter, &mut params);
            format!(
                "SELECT ts_micros, event_type, amount_micros, product_id, currency
                 FROM events WHERE true{conditions}"
            )
        };
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let mut result = client.query_raw(&statement, refs(&params))?;
        while let Some(row) = result.next()? {
            // Rows of an unknown type (impossible through ingestion) count nowhere.
            let Some(event_type) = row
                .try_get::<_, Option<&str>>(1)?
                .and_then(EventType::parse)
            else {
                continue;
            };
            let mut attributed = Attributed::default();
            if credited {
                for (i, value) in attributed.values.iter_mut().enumerate() {
                    *value = row.try_get(5 + i)?;
                }
            }
            let facts = Facts {
                event_type,
                amount_micros: row.try_get(2)?,
                product_id: row.try_get(3)?,
                currency: row.try_get(4)?,
                attributed,
            };
            visit(row.try_get(0)?, &facts);
        }
        Ok(())
    }

    /// Nothing: every committed batch has upserted its rollup rows.
    fn unfolded_facts(
        &self,
        _filter: &EventFilter,
        _credited: bool,
        _visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn person_events(
        &self,
        filter: &EventFilter,
        product_id: Option<&str>,
        filters: &Filters,
        visit: &mut dyn FnMut(&PersonEvent),
    ) -> Result<Vec<String>, StoreError> {
        let mut params = Params::new();
        // Unfiltered, the events alone; filtered, joined with their sessions.
        let mut from = if filters.is_empty() {
            format!(
                "FROM events e WHERE true{}",
                conditions(filter, &mut params)
            )
        } else {
            selection(filter, filters, &mut params)
        };
        if let Some(product) = product_id {
            params.push(Box::new(product.to_owned()));
            from.push_str(&format!(" AND e.product_id = ${}", params.len()));
        }
        // Undated rows first, as SQLite orders NULL; ties in arrival order.
        let sql = format!(
            "SELECT e.ts_micros, e.event_type, e.session_id, e.visitor_id, e.shop_id {from}
                AND (e.session_id IS NOT NULL OR e.visitor_id IS NOT NULL)
             ORDER BY e.ts_micros NULLS FIRST, e.id"
        );
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let mut rows = client.query_raw(&statement, refs(&params))?;
        let mut shops: Vec<String> = Vec::new();
        let mut shop_index: HashMap<String, usize, FastHash> = HashMap::default();
        while let Some(row) = rows.next()? {
            let Some(event_type) = row
                .try_get::<_, Option<&str>>(1)?
                .and_then(EventType::parse)
            else {
                continue;
            };
            let shop_id: &str = row.try_get(4)?;
            let shop = match shop_index.get(shop_id) {
                Some(&index) => index,
                None => {
                    shops.push(shop_id.to_owned());
                    shop_index.insert(shop_id.to_owned(), shops.len() - 1);
                    shops.len() - 1
                }
            };
            let event = PersonEvent {
                ts_micros: row.try_get::<_, Option<i64>>(0)?.unwrap_or(i64::MIN),
                shop,
                event_type,
                session: row.try_get::<_, Option<&str>>(2)?.map(fingerprint),
                visitor: row.try_get::<_, Option<&str>>(3)?.map(fingerprint),
            };
            visit(&event);
        }
        Ok(shops)
    }

    fn time_span(&self, filter: &EventFilter) -> Result<Option<(i64, i64)>, StoreError> {
        let mut params = Params::new();
        let conditions = conditions(filter, &mut params);
        let sql = format!(
            "SELECT MIN(ts_micros), MAX(ts_micros) FROM events
             WHERE ts_micros IS NOT NULL{conditions}"
        );
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let row = client.query_one(&statement, &refs(&params))?;
        Ok(match (row.try_get(0)?, row.try_get(1)?) {
            (Some(first), Some(last)) => Some((first, last)),
            _ => None,
        })
    }

    /// A seek per shop on the rollups' primary key, as many steps as there are shops.
    fn rollup_shop_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.client.borrow_mut();
        let next_shop = client
            .prepare("SELECT shop_id FROM rollups WHERE shop_id > $1 ORDER BY shop_id LIMIT 1")?;
        let mut shops: Vec<String> = Vec::new();
        while let Some(row) = client.query_opt(
            &next_shop,
            &[&shops.last().map_or(ALL_SHOPS, String::as_str)],
        )? {
            shops.push(row.try_get(0)?);
        }
        Ok(shops)
    }

    fn raw_shop_ids(&self, filter: &EventFilter) -> Result<Vec<String>, StoreError> {
        let mut params = Params::new();
        let conditions = conditions(filter, &mut params);
        let sql = format!("SELECT DISTINCT shop_id FROM events WHERE true{conditions}");
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let rows = client.query(&statement, &refs(&params))?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect()
    }

    fn people_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(
            &mut client,
            "SELECT day FROM people_days WHERE shop_id = $1 AND day >= $2 AND day < $3 ORDER BY day",
        )?;
        let rows = client.query(
            &statement,
            &[
                &ALL_SHOPS,
                &from.unwrap_or(i64::MIN),
                &to.unwrap_or(i64::MAX),
            ],
        )?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect()
    }

    fn people_since(&self) -> Result<Option<i64>, StoreError> {
        people_since(*self.client.borrow_mut())
    }

    fn people_day(
        &self,
        shop: &str,
        day: i64,
        part: DayPart,
        visit: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(
            &mut client,
            match part {
                DayPart::Whole => "SELECT whole FROM people_days WHERE shop_id = $1 AND day = $2",
                DayPart::Buckets => {
                    "SELECT buckets FROM people_days WHERE shop_id = $1 AND day = $2"
                }
            },
        )?;
        let row = client.query_opt(&statement, &[&shop, &day])?;
        drop(client);
        match row {
            Some(row) => visit(row.try_get(0)?),
            None => Ok(()),
        }
    }

    fn value_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(
            &mut client,
            "SELECT day FROM people_value_marks WHERE day >= $1 AND day < $2 ORDER BY day",
        )?;
        let rows = client.query(
            &statement,
            &[&from.unwrap_or(i64::MIN), &to.unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect()
    }

    fn value_day(
        &self,
        key: ValueDay<'_>,
        part: DayPart,
        visit: VisitValueDay<'_>,
    ) -> Result<(), StoreError> {
        let column = part.column();
        let one = if key.value.is_some() {
            " AND value = $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT value, {column} FROM people_value_days
             WHERE day = $1 AND dimension = $2 AND shop_id = $3{one}"
        );
        let dimension = key.dimension.name();
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let rows = match key.value {
            Some(value) => client.query(&statement, &[&key.day, &dimension, &key.shop, &value])?,
            None => client.query(&statement, &[&key.day, &dimension, &key.shop])?,
        };
        drop(client);
        for row in &rows {
            visit(row.try_get(0)?, row.try_get(1)?)?;
        }
        Ok(())
    }

    fn session_spans(
        &self,
        sessions: &[u64],
        visit: &mut dyn FnMut(u64, (i64, i64)),
    ) -> Result<(), StoreError> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(
            &mut client,
            "SELECT session, first_day, last_day FROM session_spans WHERE session = ANY($1)",
        )?;
        for chunk in sessions.chunks(crate::session_spans::SPAN_CHUNK) {
            let keys: Vec<i64> = chunk.iter().map(|s| *s as i64).collect();
            for row in client.query(&statement, &[&keys])? {
                let session: i64 = row.try_get(0)?;
                visit(session as u64, (row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(())
    }

    fn attributed_events(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(&AttributedEvent<'_>),
    ) -> Result<(), StoreError> {
        let mut params = Params::new();
        let selection = selection(filter, filters, &mut params);
        let attributes: Vec<String> = Attribute::ALL.iter().map(|a| attribute_sql(*a)).collect();
        // Undated rows first, as SQLite orders NULL; ties in arrival order.
        let sql = format!(
            "SELECT e.ts_micros, e.event_type, e.amount_micros, e.product_id, e.currency,
                e.shop_id, e.session_id, e.visitor_id, e.path, {}
             {selection} ORDER BY e.ts_micros NULLS FIRST, e.id",
            attributes.join(", ")
        );
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let mut rows = client.query_raw(&statement, refs(&params))?;
        while let Some(row) = rows.next()? {
            // Rows of an unknown type (impossible through ingestion) count nowhere.
            let Some(event_type) = row
                .try_get::<_, Option<&str>>(1)?
                .and_then(EventType::parse)
            else {
                continue;
            };
            let mut attributed = Attributed::default();
            for (i, value) in attributed.values.iter_mut().enumerate() {
                *value = row.try_get(9 + i)?;
            }
            visit(&AttributedEvent {
                ts_micros: row.try_get(0)?,
                facts: Facts {
                    event_type,
                    amount_micros: row.try_get(2)?,
                    product_id: row.try_get(3)?,
                    currency: row.try_get(4)?,
                    attributed,
                },
                shop_id: row.try_get(5)?,
                session: row.try_get(6)?,
                visitor: row.try_get(7)?,
                path: row.try_get(8)?,
            });
        }
        Ok(())
    }

    fn page_views(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<&str>, Option<&str>),
    ) -> Result<(), StoreError> {
        let mut params = Params::new();
        // Unfiltered, the events alone; filtered, joined with their sessions.
        let from = if filters.is_empty() {
            format!(
                "FROM events e WHERE true{}",
                conditions(filter, &mut params)
            )
        } else {
            selection(filter, filters, &mut params)
        };
        let sql = format!("SELECT e.path, e.visitor_id {from} AND e.event_type = 'page_view'");
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let mut rows = client.query_raw(&statement, refs(&params))?;
        while let Some(row) = rows.next()? {
            visit(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(())
    }

    fn visitor_firsts(
        &self,
        shop: Option<&str>,
        visit: &mut dyn FnMut(&str, i64, Option<i64>),
    ) -> Result<(), StoreError> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(
            &mut client,
            "SELECT visitor_id, first_ts, first_purchase_ts FROM visitors
             WHERE $1::text IS NULL OR shop_id = $1 ORDER BY shop_id, visitor_id",
        )?;
        let mut rows = client.query_raw(&statement, [&shop as &(dyn ToSql + Sync)])?;
        while let Some(row) = rows.next()? {
            visit(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        }
        Ok(())
    }

    fn firsts_in_range(
        &self,
        shop: Option<&str>,
        (from, to): (Option<i64>, Option<i64>),
        filters: &Filters,
    ) -> Result<FirstsInRange, StoreError> {
        let mut client = self.client.borrow_mut();
        if !filters.is_empty() {
            let (in_range, before) = range_and_before(shop, (from, to));
            let mut params = Params::new();
            let in_range = selection(&in_range, filters, &mut params);
            let before = selection(&before, filters, &mut params);
            let sql = firsts_in_range_sql(&in_range, &before);
            let statement = self.statement(&mut client, &sql)?;
            let row = client.query_one(&statement, &refs(&params))?;
            return Ok(FirstsInRange {
                first_visits: row.try_get::<_, i64>(0)? as u64,
                first_purchases: row.try_get::<_, i64>(1)? as u64,
            });
        }
        let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
        let row = match shop {
            Some(shop) => {
                let statement = self.statement(&mut client, &FIRSTS_OF_SHOP.replace('?', "$"))?;
                client.query_one(&statement, &[&shop, &from, &to])?
            }
            None => {
                let sql = FIRSTS_OF_ALL_SHOPS.replace('?', "$");
                let statement = self.statement(&mut client, &sql)?;
                client.query_one(&statement, &[&from, &to])?
            }
        };
        Ok(FirstsInRange {
            first_visits: row.try_get::<_, i64>(0)? as u64,
            first_purchases: row.try_get::<_, i64>(1)? as u64,
        })
    }

    fn bot_events(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let mut params = Params::new();
        let bounds = bounds(filter, "", &mut params);
        let sql = format!("SELECT COUNT(*) FROM events WHERE is_bot{bounds}");
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, &sql)?;
        let count: i64 = client.query_one(&statement, &refs(&params))?.try_get(0)?;
        Ok(count as u64)
    }
}

/// Where people are known from, when retention has cut anything.
pub(super) fn people_since(client: &mut impl GenericClient) -> Result<Option<i64>, StoreError> {
    Ok(client
        .query_opt("SELECT people_since FROM retention", &[])?
        .and_then(|row| row.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteBackend;
    use domain::event::Event;

    /// The plan PostgreSQL picks, on a store of a realistic shape, for a read filtered by a
    /// page: the sessions that viewed it come from the page views' partial index (schema step
    /// 4, `events_page_sessions`, named per partition after its columns) of every month, not
    /// from reading every event.
    #[test]
    fn a_page_filter_reads_through_the_indexes() {
        let server = test_support::PostgresServer::start();
        let url = server.database();
        let mut writer = super::super::PgWriter::open(&url).expect("opens");
        let events: Vec<Event> = (0..30_000)
            .map(|i| {
                let (event_type, shop) = (
                    ["page_view", "page_view", "add_to_cart"][i % 3],
                    ["a", "b"][i % 2],
                );
                let value = serde_json::json!({
                    "event_type": event_type,
                    "timestamp": format!("2025-0{}-{:02}T10:00:00Z", 1 + i % 3, 1 + i % 28),
                    "event_id": format!("e{i}"), "shop_id": shop,
                    "session_id": format!("s{}", i % 6000), "path": format!("/p/{}", i % 3000),
                });
                Event::from_json(value, chrono::Utc::now(), domain::event::new_event_id)
                    .expect("valid")
            })
            .collect();
        for batch in events.chunks(2000) {
            writer.insert_batch(batch).expect("stores");
        }
        let mut client = super::super::connect(&url).expect("connects");
        client.batch_execute("VACUUM ANALYZE").expect("analyzes");
        let mut params = Params::new();
        let filters = Filters {
            attributes: Vec::new(),
            page: Some("/p/7".to_owned()),
        };
        let sql = format!(
            "EXPLAIN SELECT COUNT(*) {}",
            selection(&EventFilter::default(), &filters, &mut params)
        );
        let plan: Vec<String> = client
            .query(&sql, &refs(&params))
            .expect("explains")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let plan = plan.join("\n");
        eprintln!("{plan}");
        for month in ["01", "02", "03"] {
            let index = format!("events_2025_{month}_path_shop_id_session_id_idx");
            assert!(plan.contains(&index), "{plan}");
        }
    }
}
