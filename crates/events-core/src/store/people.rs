//! Visitors, sessions and session funnels: what sums cannot answer, because a visitor seen
//! in two buckets is still one visitor, and a funnel depends on the order of one session's
//! events. These are exact passes over the raw rows of the range, in time order, over the
//! `(ts_micros, shop_id, event_type, session_id, visitor_id, product_id)` index, which holds
//! every column they read so the table itself is never touched.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::queries::EventFilter;
use crate::event::EventType;

/// The distinct people and the session funnel of a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleCounts {
    pub visitors: u64,
    pub sessions: u64,
    /// Sessions with at least one add_to_cart.
    pub sessions_with_cart: u64,
    /// Sessions whose last add_to_cart has no purchase after it.
    pub abandoned_sessions: u64,
    /// Sessions that reached a page_view, then a later add_to_cart, then a later purchase.
    pub funnel: [u64; 3],
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    /// Funnel steps done in order (0 to 3).
    stage: u8,
    has_cart: bool,
    /// An add_to_cart with no purchase after it (yet).
    cart_open: bool,
}

/// Folds events, in time order, into [`PeopleCounts`]. Pure, so the rules are unit-tested.
#[derive(Debug, Default)]
pub struct Tally {
    visitors: HashSet<String>,
    sessions: HashMap<String, SessionState>,
}

impl Tally {
    /// One event; events must come in time order ("later" is by timestamp, then arrival).
    pub fn observe(&mut self, event_type: EventType, session: Option<&str>, visitor: Option<&str>) {
        if let Some(visitor) = visitor
            && !self.visitors.contains(visitor)
        {
            self.visitors.insert(visitor.to_owned());
        }
        let Some(session) = session else { return };
        let state = match self.sessions.get_mut(session) {
            Some(state) => state,
            None => self.sessions.entry(session.to_owned()).or_default(),
        };
        let step = match event_type {
            EventType::PageView => 0,
            EventType::AddToCart => {
                state.has_cart = true;
                state.cart_open = true;
                1
            }
            EventType::Purchase => {
                state.cart_open = false;
                2
            }
        };
        if state.stage == step {
            state.stage += 1;
        }
    }

    pub fn finish(self) -> PeopleCounts {
        let mut counts = PeopleCounts {
            visitors: self.visitors.len() as u64,
            sessions: self.sessions.len() as u64,
            ..PeopleCounts::default()
        };
        for state in self.sessions.values() {
            counts.sessions_with_cart += u64::from(state.has_cart);
            counts.abandoned_sessions += u64::from(state.cart_open);
            for (step, reached) in counts.funnel.iter_mut().enumerate() {
                *reached += u64::from(usize::from(state.stage) > step);
            }
        }
        counts
    }
}

/// Visitors, sessions, cart abandonment and the session funnel over a filter; with
/// `product_id`, only that product's events count (the funnel of one product).
pub fn people(
    connection: &Connection,
    filter: &EventFilter,
    product_id: Option<&str>,
) -> Result<PeopleCounts, StoreError> {
    let (mut conditions, mut params) = filter.sql_conditions();
    if let Some(product) = product_id {
        conditions.push_str(" AND product_id = ?");
        params.push(Value::Text(product.to_owned()));
    }
    // Ordered by time only, so the covering index serves the order; events of the same
    // microsecond are put in arrival order (`id`) below.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT ts_micros, id, event_type, session_id, visitor_id FROM events
         WHERE (session_id IS NOT NULL OR visitor_id IS NOT NULL){conditions}
         ORDER BY ts_micros"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut tally = Tally::default();
    type Row = (i64, String, Option<String>, Option<String>);
    let mut same_time: Vec<Row> = Vec::new();
    let mut current: Option<i64> = None;
    let flush = |tally: &mut Tally, rows: &mut Vec<Row>| {
        rows.sort_by_key(|r| r.0);
        for (_, event_type, session, visitor) in rows.drain(..) {
            if let Some(event_type) = EventType::parse(&event_type) {
                tally.observe(event_type, session.as_deref(), visitor.as_deref());
            }
        }
    };
    while let Some(row) = rows.next()? {
        let ts: Option<i64> = row.get(0)?;
        let ts = ts.unwrap_or(i64::MIN);
        if current != Some(ts) {
            flush(&mut tally, &mut same_time);
            current = Some(ts);
        }
        same_time.push((row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?));
    }
    flush(&mut tally, &mut same_time);
    Ok(tally.finish())
}

/// Distinct visitors per slot, for slots `[starts[i], starts[i + 1])`; the last start is the
/// end of the last slot, so the answer has `starts.len() - 1` counts.
pub fn visitors_by_slot(
    connection: &Connection,
    filter: &EventFilter,
    starts: &[i64],
) -> Result<Vec<u64>, StoreError> {
    let slots = starts.len().saturating_sub(1);
    let mut counts = vec![0; slots];
    let (Some(&first), Some(&end)) = (starts.first(), starts.last()) else {
        return Ok(counts);
    };
    let range = EventFilter {
        shop_id: filter.shop_id.clone(),
        from_micros: Some(filter.from_micros.map_or(first, |f| f.max(first))),
        to_micros: Some(filter.to_micros.map_or(end, |t| t.min(end))),
    };
    let (conditions, params) = range.sql_conditions();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT ts_micros, visitor_id FROM events
         WHERE visitor_id IS NOT NULL{conditions} ORDER BY ts_micros"
    ))?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut slot = 0;
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(row) = rows.next()? {
        let ts: i64 = row.get(0)?;
        let moved = slot;
        while slot + 1 < starts.len() && starts[slot + 1] <= ts {
            slot += 1;
        }
        if slot != moved {
            seen.clear();
        }
        if slot >= slots {
            break;
        }
        let visitor = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        if !seen.contains(visitor) {
            seen.insert(visitor.to_owned());
            counts[slot] += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::{AddToCart as C, PageView as V, Purchase as P};

    fn tally(events: &[(EventType, &str)]) -> PeopleCounts {
        let mut tally = Tally::default();
        for (event_type, session) in events {
            tally.observe(*event_type, Some(session), Some(session));
        }
        tally.finish()
    }

    #[test]
    fn the_funnel_counts_only_steps_done_in_order() {
        let counts = tally(&[(C, "a"), (P, "a"), (V, "a"), (V, "b"), (C, "b"), (P, "b")]);
        assert_eq!(counts.funnel, [2, 1, 1]);
        assert_eq!(counts.sessions, 2);
    }

    #[test]
    fn a_cart_is_abandoned_when_no_purchase_follows_it() {
        let counts = tally(&[
            (C, "paid"),
            (P, "paid"),
            (C, "left"),
            (P, "again"),
            (C, "again"),
            (V, "looked"),
        ]);
        assert_eq!(counts.sessions_with_cart, 3);
        assert_eq!(counts.abandoned_sessions, 2);
    }

    #[test]
    fn events_without_people_count_nobody() {
        let mut tally = Tally::default();
        tally.observe(V, None, None);
        tally.observe(V, None, Some("v"));
        tally.observe(V, None, Some("v"));
        let counts = tally.finish();
        assert_eq!((counts.visitors, counts.sessions), (1, 0));
    }
}
