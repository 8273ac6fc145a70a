//! SQLite's answers to the attributed reads of [`ReadBackend`](super::ReadBackend): raw
//! events joined with their session's attribution ([`attribution`](super::attribution)),
//! narrowed by a request's [`Filters`], the visitors' first times, and the bots' count.
//!
//! Every event of a session is credited to the session's attribution; an event without a
//! session (or, which the writer never leaves, without a row in `sessions`) to its own fields,
//! its own path being its landing page when it is a page view.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::backend::AttributedEvent;
use super::filter::EventFilter;
use domain::attribution::{Attribute, Attributed, Filters};
use domain::dimension::Facts;
use domain::event::EventType;
use domain::sessions::FirstsInRange;

/// The SQL of the value `attribute` credits an event `e` (joined with its session `s`) to
/// (plain SQL, shared with PostgreSQL's reads).
pub(crate) fn attribute_sql(attribute: Attribute) -> String {
    match attribute {
        Attribute::LandingPage => "CASE WHEN s.session_id IS NULL THEN \
             CASE WHEN e.event_type = 'page_view' THEN e.path END \
             ELSE s.landing_page END"
            .to_owned(),
        other => {
            let column = other.column();
            format!("CASE WHEN s.session_id IS NULL THEN e.{column} ELSE s.{column} END")
        }
    }
}

/// The `FROM` and `WHERE` of the events a filter and `filters` select, events aliased `e`,
/// their sessions `s`; with its parameters.
pub fn selection_sql(filter: &EventFilter, filters: &Filters) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "FROM events e LEFT JOIN sessions s ON s.shop_id = e.shop_id AND s.session_id = e.session_id
         WHERE e.is_bot = 0",
    );
    let mut params = Vec::new();
    if let Some(shop_id) = &filter.shop_id {
        sql.push_str(" AND e.shop_id = ?");
        params.push(Value::Text(shop_id.clone()));
    }
    if let Some(from) = filter.from_micros {
        sql.push_str(" AND e.ts_micros >= ?");
        params.push(Value::Integer(from));
    }
    if let Some(to) = filter.to_micros {
        sql.push_str(" AND e.ts_micros < ?");
        params.push(Value::Integer(to));
    }
    for (attribute, value) in &filters.attributes {
        sql.push_str(&format!(" AND ({}) IS ?", attribute_sql(*attribute)));
        params.push(value.clone().map_or(Value::Null, Value::Text));
    }
    if let Some(page) = &filters.page {
        // The sessions with a page view of the path, found once (SQLite materialises the
        // list); an event without a session matches when it is such a page view itself.
        sql.push_str(
            " AND CASE WHEN e.session_id IS NULL
                THEN e.event_type = 'page_view' AND e.path IS ?
                ELSE (e.shop_id, e.session_id) IN (SELECT shop_id, session_id FROM events
                    WHERE event_type = 'page_view' AND path IS ? AND session_id IS NOT NULL
                        AND is_bot = 0)
              END",
        );
        params.push(Value::Text(page.clone()));
        params.push(Value::Text(page.clone()));
    }
    (sql, params)
}

/// The path and visitor of the page views of a filter that `filters` select: unfiltered, the
/// events alone, without the sessions' join.
pub(super) fn page_views(
    connection: &Connection,
    filter: &EventFilter,
    filters: &Filters,
    visit: &mut dyn FnMut(Option<&str>, Option<&str>),
) -> Result<(), StoreError> {
    let (from, params) = if filters.is_empty() {
        let (conditions, params) = filter.sql_conditions();
        (format!("FROM events e WHERE 1 = 1{conditions}"), params)
    } else {
        selection_sql(filter, filters)
    };
    let mut statement = connection.prepare_cached(&format!(
        "SELECT e.path, e.visitor_id {from} AND e.event_type = 'page_view'"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        let text = |i: usize| -> Result<Option<&str>, rusqlite::Error> {
            Ok(row.get_ref(i)?.as_str_or_null()?)
        };
        visit(text(0)?, text(1)?);
    }
    Ok(())
}

pub(super) fn attributed_events(
    connection: &Connection,
    filter: &EventFilter,
    filters: &Filters,
    visit: &mut dyn FnMut(&AttributedEvent<'_>),
) -> Result<(), StoreError> {
    let (selection, params) = selection_sql(filter, filters);
    let attributes: Vec<String> = Attribute::ALL.iter().map(|a| attribute_sql(*a)).collect();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT e.ts_micros, e.event_type, e.amount_micros, e.product_id, e.currency,
            e.shop_id, e.session_id, e.visitor_id, e.path, {}
         {selection} ORDER BY e.ts_micros, e.id",
        attributes.join(", ")
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
        let mut attributed = Attributed::default();
        for (i, value) in attributed.values.iter_mut().enumerate() {
            *value = text(9 + i)?;
        }
        visit(&AttributedEvent {
            ts_micros: row.get(0)?,
            facts: Facts {
                event_type,
                amount_micros: row.get(2)?,
                product_id: text(3)?,
                currency: text(4)?,
                attributed,
            },
            shop_id: text(5)?.unwrap_or_default(),
            session: text(6)?,
            visitor: text(7)?,
            path: text(8)?,
        });
    }
    Ok(())
}

/// The SQL of [`ReadBackend::firsts_in_range`](super::ReadBackend::firsts_in_range) under
/// filters, from two selections (SQLite's or PostgreSQL's) of the selected events: `in_range`,
/// those of the range, and `before`, those before its start.
///
/// A visitor's first selected event is in the range exactly when it has a selected event there
/// and none before; its first selected purchase, when it bought there and not before. So only
/// the range's visitors are looked up before it: the history read is theirs, not every stored
/// event's (a visitor is one id across the shops selected, so both group by the id alone).
pub(crate) fn firsts_in_range_sql(in_range: &str, before: &str) -> String {
    let per_visitor = "SELECT e.visitor_id AS visitor,
            MAX(CASE WHEN e.event_type = 'purchase' THEN 1 ELSE 0 END) AS bought";
    format!(
        "WITH seen AS MATERIALIZED ({per_visitor}
                {in_range} AND e.visitor_id IS NOT NULL AND e.ts_micros IS NOT NULL
                GROUP BY e.visitor_id),
            earlier AS MATERIALIZED ({per_visitor}
                {before} AND e.visitor_id IN (SELECT visitor FROM seen)
                GROUP BY e.visitor_id)
         SELECT (SELECT COUNT(*) FROM seen) - (SELECT COUNT(*) FROM earlier),
            (SELECT COUNT(*) FROM seen WHERE bought = 1)
                - (SELECT COUNT(*) FROM seen JOIN earlier ON earlier.visitor = seen.visitor
                   WHERE seen.bought = 1 AND earlier.bought = 1)"
    )
}

/// The two event filters of [`firsts_in_range_sql`]: the range, and before its start (nothing
/// without a start).
pub(crate) fn range_and_before(
    shop: Option<&str>,
    (from, to): (Option<i64>, Option<i64>),
) -> (EventFilter, EventFilter) {
    let in_range = EventFilter {
        shop_id: shop.map(str::to_owned),
        from_micros: from,
        to_micros: to,
    };
    let before = in_range.with_range(None, Some(from.unwrap_or(i64::MIN)));
    (in_range, before)
}

/// SQLite's [`firsts_in_range_sql`]: the first times among the events `filters` select.
pub(super) fn firsts_in_range(
    connection: &Connection,
    shop: Option<&str>,
    range: (Option<i64>, Option<i64>),
    filters: &Filters,
) -> Result<FirstsInRange, StoreError> {
    let (in_range, before) = range_and_before(shop, range);
    let (in_range, mut params) = selection_sql(&in_range, filters);
    let (before, before_params) = selection_sql(&before, filters);
    params.extend(before_params);
    let (first_visits, first_purchases): (i64, i64) = connection
        .prepare_cached(&firsts_in_range_sql(&in_range, &before))?
        .query_row(rusqlite::params_from_iter(params), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(FirstsInRange {
        first_visits: first_visits as u64,
        first_purchases: first_purchases as u64,
    })
}

pub(super) fn visitor_firsts(
    connection: &Connection,
    shop: Option<&str>,
    visit: &mut dyn FnMut(&str, i64, Option<i64>),
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT visitor_id, first_ts, first_purchase_ts FROM visitors
         WHERE ?1 IS NULL OR shop_id = ?1",
    )?;
    let mut rows = statement.query([shop])?;
    while let Some(row) = rows.next()? {
        let visitor = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        visit(visitor, row.get(1)?, row.get(2)?);
    }
    Ok(())
}

pub(super) fn bot_events(connection: &Connection, filter: &EventFilter) -> Result<u64, StoreError> {
    let (sql, params) = bot_events_sql(filter);
    let count: i64 = connection
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(params), |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The count of a filter's bots' events, on the index of them alone (`events_bots`).
fn bot_events_sql(filter: &EventFilter) -> (String, Vec<Value>) {
    let mut sql = String::from("SELECT COUNT(*) FROM events WHERE is_bot = 1");
    let mut params = Vec::new();
    if let Some(shop_id) = &filter.shop_id {
        sql.push_str(" AND shop_id = ?");
        params.push(Value::Text(shop_id.clone()));
    }
    for (bound, condition) in [
        (filter.from_micros, " AND ts_micros >= ?"),
        (filter.to_micros, " AND ts_micros < ?"),
    ] {
        if let Some(bound) = bound {
            sql.push_str(condition);
            params.push(Value::Integer(bound));
        }
    }
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/api/v1/shops` asks every shop's bots: each count must read the bots' index, not every
    /// event of the shop (a second per request at 1M events before v14).
    #[test]
    fn the_bots_are_counted_on_their_own_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connection =
            crate::open_and_migrate(&dir.path().join("a.db"), crate::Synchronous::Normal)
                .expect("opens");
        for filter in [
            EventFilter::default(),
            EventFilter {
                shop_id: Some("a".to_owned()),
                from_micros: Some(1),
                to_micros: Some(2),
            },
        ] {
            let (sql, params) = bot_events_sql(&filter);
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explains");
            let plan: Vec<String> = statement
                .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
                .expect("plans")
                .collect::<Result<_, _>>()
                .expect("reads");
            assert!(
                plan.iter().any(|step| step.contains("events_bots")),
                "{sql}: {plan:?}"
            );
        }
    }
}
