//! Where each session came from, kept exact by the writer (docs/API.md, "Attribution").
//!
//! `sessions` holds, per (shop, session), the attribution of its first stored event — the
//! earliest by timestamp, then by arrival (the row id, which follows the Redis stream's order)
//! — and the path of its first page view (`landing_page`). `visitors` holds, per (shop,
//! visitor), the time of its first event and of its first purchase, for `new_visitors` and
//! `returning_customers`. The writer calls [`record`] for every row it inserts, inside the
//! insert's transaction, so these tables describe exactly the stored events: an event that
//! arrives after later ones of its session, but is earlier, takes the session over in the
//! same commit that stores it. Bots are left out, as from every metric.

use rusqlite::{Connection, params};

use super::StoreError;
use domain::event::{Event, EventType};
use domain::sessions::FirstsInRange;

/// Notes one inserted event (row id `row_id`) in the sessions' attribution and the visitors'
/// first times, inside the insert's transaction.
pub(super) fn record(
    transaction: &Connection,
    event: &Event,
    row_id: i64,
) -> Result<(), StoreError> {
    if event.traffic.is_bot {
        return Ok(());
    }
    let ts = event.timestamp.timestamp_micros();
    if let Some(session) = &event.session_id {
        let traffic = &event.traffic;
        // Taken over only by an event that comes before the session's first one.
        transaction
            .prepare_cached(
                "INSERT INTO sessions (shop_id, session_id, first_ts, first_id, channel, source,
                    medium, campaign, referrer_domain, device, browser, os, country)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (shop_id, session_id) DO UPDATE SET
                    first_ts = excluded.first_ts, first_id = excluded.first_id,
                    channel = excluded.channel, source = excluded.source,
                    medium = excluded.medium, campaign = excluded.campaign,
                    referrer_domain = excluded.referrer_domain, device = excluded.device,
                    browser = excluded.browser, os = excluded.os, country = excluded.country
                 WHERE (excluded.first_ts, excluded.first_id)
                    < (sessions.first_ts, sessions.first_id)",
            )?
            .execute(params![
                event.shop_id,
                session,
                ts,
                row_id,
                traffic.channel,
                traffic.source,
                traffic.medium,
                traffic.campaign,
                traffic.referrer_domain,
                traffic.device,
                traffic.browser,
                traffic.os,
                traffic.country,
            ])?;
        if event.event_type == EventType::PageView {
            transaction
                .prepare_cached(
                    "UPDATE sessions SET landing_ts = ?3, landing_id = ?4, landing_page = ?5
                     WHERE shop_id = ?1 AND session_id = ?2
                        AND (landing_id IS NULL OR (?3, ?4) < (landing_ts, landing_id))",
                )?
                .execute(params![event.shop_id, session, ts, row_id, event.path])?;
        }
    }
    if let Some(visitor) = &event.visitor_id {
        let purchase = (event.event_type == EventType::Purchase).then_some(ts);
        transaction
            .prepare_cached(&format!(
                "INSERT INTO visitors (shop_id, visitor_id, first_ts, first_purchase_ts)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (shop_id, visitor_id) DO UPDATE SET
                    first_ts = MIN(first_ts, excluded.first_ts),
                    first_purchase_ts = COALESCE(
                        MIN(first_purchase_ts, excluded.first_purchase_ts),
                        first_purchase_ts, excluded.first_purchase_ts)
                 WHERE {VISITOR_IS_EARLIER}"
            ))?
            .execute(params![event.shop_id, visitor, ts, purchase])?;
    }
    Ok(())
}

/// When an upsert of a visitor changes its row: only an earlier first event or first purchase.
/// Most events of a known visitor change nothing, and skipping their update spares the
/// indexes of `visitors` a rewrite of the same entries.
pub(crate) const VISITOR_IS_EARLIER: &str = "excluded.first_ts < visitors.first_ts
    OR (excluded.first_purchase_ts IS NOT NULL
        AND (visitors.first_purchase_ts IS NULL
            OR excluded.first_purchase_ts < visitors.first_purchase_ts))";

/// How many visitors have their first event, and how many their first purchase, in
/// `[?2, ?3)`, among the shop `?1` (`NULL`: all shops). A visitor is one id across shops:
/// each is counted at its earliest row of the shops asked (ties by shop), so the counts are
/// of ids, not rows, without a sort. Written once for both stores (PostgreSQL numbers its
/// parameters `$1`); the indexes `visitors_first`, `visitors_first_purchase` and
/// `visitors_visitor` answer it.
pub(crate) const FIRSTS_IN_RANGE: &str = "SELECT
    (SELECT COUNT(*) FROM visitors v
     WHERE v.first_ts >= ?2 AND v.first_ts < ?3
        AND (CAST(?1 AS TEXT) IS NULL OR v.shop_id = ?1)
        AND NOT EXISTS (SELECT 1 FROM visitors w
            WHERE w.visitor_id = v.visitor_id AND (CAST(?1 AS TEXT) IS NULL OR w.shop_id = ?1)
                AND (w.first_ts < v.first_ts
                    OR (w.first_ts = v.first_ts AND w.shop_id < v.shop_id)))),
    (SELECT COUNT(*) FROM visitors v
     WHERE v.first_purchase_ts >= ?2 AND v.first_purchase_ts < ?3
        AND (CAST(?1 AS TEXT) IS NULL OR v.shop_id = ?1)
        AND NOT EXISTS (SELECT 1 FROM visitors w
            WHERE w.visitor_id = v.visitor_id AND (CAST(?1 AS TEXT) IS NULL OR w.shop_id = ?1)
                AND (w.first_purchase_ts < v.first_purchase_ts
                    OR (w.first_purchase_ts = v.first_purchase_ts
                        AND w.shop_id < v.shop_id))))";

/// SQLite's answer to [`FIRSTS_IN_RANGE`].
pub(super) fn firsts_in_range(
    connection: &Connection,
    shop: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<FirstsInRange, StoreError> {
    let (first_visits, first_purchases): (i64, i64) =
        connection.prepare_cached(FIRSTS_IN_RANGE)?.query_row(
            params![shop, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
    Ok(FirstsInRange {
        first_visits: first_visits as u64,
        first_purchases: first_purchases as u64,
    })
}

/// What one batch's stored events say of their sessions' first event and first page view,
/// and their visitors' first event and first purchase, by [`record`]'s rules (bots left out,
/// earliest `(timestamp, row id)` first), for a writer that upserts a batch at once
/// (PostgreSQL's): sorted by key, so concurrent writers lock rows in one order.
#[derive(Debug, Default)]
pub struct BatchFirsts<'e> {
    /// Per `(shop, session)`: its earliest event and row id, and its earliest page view's.
    pub sessions: std::collections::BTreeMap<(&'e str, &'e str), SessionFirsts<'e>>,
    /// Per `(shop, visitor)`: the time of its first event and of its first purchase.
    pub visitors: std::collections::BTreeMap<(&'e str, &'e str), (i64, Option<i64>)>,
}

/// A session's earliest event in a batch and its earliest page view (with their row ids).
#[derive(Debug, Clone, Copy)]
pub struct SessionFirsts<'e> {
    pub first: (&'e Event, i64),
    pub landing: Option<(&'e Event, i64)>,
}

/// The firsts of `stored` events, each with its row id.
pub fn batch_firsts<'e>(stored: &[(&'e Event, i64)]) -> BatchFirsts<'e> {
    let key = |(event, id): &(&Event, i64)| (event.timestamp.timestamp_micros(), *id);
    let mut firsts = BatchFirsts::default();
    for &(event, id) in stored {
        if event.traffic.is_bot {
            continue;
        }
        let ts = event.timestamp.timestamp_micros();
        if let Some(session) = &event.session_id {
            let page_view = (event.event_type == EventType::PageView).then_some((event, id));
            let entry = firsts
                .sessions
                .entry((event.shop_id.as_str(), session.as_str()))
                .or_insert(SessionFirsts {
                    first: (event, id),
                    landing: page_view,
                });
            if (ts, id) < key(&entry.first) {
                entry.first = (event, id);
            }
            if let Some(candidate) = page_view
                && entry.landing.is_none_or(|landing| (ts, id) < key(&landing))
            {
                entry.landing = Some(candidate);
            }
        }
        if let Some(visitor) = &event.visitor_id {
            let purchase = (event.event_type == EventType::Purchase).then_some(ts);
            let entry = firsts
                .visitors
                .entry((event.shop_id.as_str(), visitor.as_str()))
                .or_insert((ts, purchase));
            entry.0 = entry.0.min(ts);
            entry.1 = match (entry.1, purchase) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    firsts
}

/// Builds the attribution of `sessions` and the first times of `visitors` of one shop again
/// from the stored events, after some of them were deleted (`analytics forget`).
pub(super) fn rebuild(
    transaction: &Connection,
    shop_id: &str,
    sessions: &[String],
    visitors: &[String],
) -> Result<(), StoreError> {
    for session in sessions {
        transaction.execute(
            "DELETE FROM sessions WHERE shop_id = ?1 AND session_id = ?2",
            params![shop_id, session],
        )?;
        transaction.execute(
            "INSERT INTO sessions (shop_id, session_id, first_ts, first_id, channel, source,
                medium, campaign, referrer_domain, device, browser, os, country)
             SELECT shop_id, session_id, ts_micros, id, channel, source, medium, campaign,
                referrer_domain, device, browser, os, country
             FROM events WHERE shop_id = ?1 AND session_id = ?2 AND is_bot = 0
             ORDER BY ts_micros, id LIMIT 1",
            params![shop_id, session],
        )?;
        transaction.execute(
            "UPDATE sessions SET (landing_ts, landing_id, landing_page) = (
                SELECT ts_micros, id, path FROM events
                WHERE shop_id = ?1 AND session_id = ?2 AND is_bot = 0
                    AND event_type = 'page_view'
                ORDER BY ts_micros, id LIMIT 1)
             WHERE shop_id = ?1 AND session_id = ?2",
            params![shop_id, session],
        )?;
    }
    for visitor in visitors {
        transaction.execute(
            "DELETE FROM visitors WHERE shop_id = ?1 AND visitor_id = ?2",
            params![shop_id, visitor],
        )?;
        transaction.execute(
            "INSERT INTO visitors
             SELECT shop_id, visitor_id, MIN(ts_micros),
                MIN(CASE WHEN event_type = 'purchase' THEN ts_micros END)
             FROM events
             WHERE shop_id = ?1 AND visitor_id = ?2 AND is_bot = 0 AND ts_micros IS NOT NULL
             GROUP BY shop_id, visitor_id",
            params![shop_id, visitor],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::backend::ReadBackend;
    use super::super::filter::EventFilter;
    use super::super::{Synchronous, Writer, open_and_migrate};
    use domain::attribution::{Attribute, Filters};
    use domain::event::{Event, Traffic};
    use serde_json::json;

    fn event(id: &str, kind: &str, time: &str, channel: &str, path: Option<&str>) -> Event {
        let mut value = json!({"event_type": kind, "timestamp": time, "event_id": id,
            "session_id": "s1", "visitor_id": "v1", "order_amount": 5});
        if let Some(path) = path {
            value["path"] = json!(path);
        }
        let mut event = Event::from_json(value, chrono::Utc::now(), domain::event::new_event_id)
            .expect("valid event");
        event.traffic = Traffic {
            channel: Some(channel.to_owned()),
            ..Traffic::default()
        };
        event
    }

    fn credited(store: &rusqlite::Connection, attribute: Attribute) -> Vec<Option<String>> {
        let mut values = Vec::new();
        store
            .attributed_events(&EventFilter::default(), &Filters::default(), &mut |event| {
                values.push(event.attributed.get(attribute).map(str::to_owned));
            })
            .expect("reads");
        values
    }

    /// The session's first event arrives last, in a later batch: it takes the session over,
    /// and its first page view (not its first event) is the landing page.
    #[test]
    fn an_earlier_event_arriving_later_takes_its_session_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        writer
            .insert_batch(&[
                event(
                    "b",
                    "page_view",
                    "2025-10-02T10:30:00Z",
                    "Direct",
                    Some("/late"),
                ),
                event("c", "purchase", "2025-10-02T10:40:00Z", "Direct", None),
            ])
            .expect("stores");
        let store = open_and_migrate(&path, Synchronous::Normal).expect("reads");
        assert_eq!(
            credited(&store, Attribute::Channel),
            vec![Some("Direct".to_owned()); 2]
        );
        writer
            .insert_batch(&[
                event("a", "add_to_cart", "2025-10-02T10:00:00Z", "Email", None),
                event(
                    "z",
                    "page_view",
                    "2025-10-02T10:20:00Z",
                    "Referral",
                    Some("/first"),
                ),
            ])
            .expect("stores");
        assert_eq!(
            credited(&store, Attribute::Channel),
            vec![Some("Email".to_owned()); 4]
        );
        assert_eq!(
            credited(&store, Attribute::LandingPage),
            vec![Some("/first".to_owned()); 4]
        );
    }

    #[test]
    fn bots_are_stored_and_counted_only_as_bots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let mut bot = event("a", "page_view", "2025-10-02T10:00:00Z", "Direct", None);
        bot.traffic.is_bot = true;
        writer.insert_batch(&[bot]).expect("stores");
        let store = open_and_migrate(&path, Synchronous::Normal).expect("reads");
        assert!(credited(&store, Attribute::Channel).is_empty());
        assert_eq!(
            store.bot_events(&EventFilter::default()).expect("counts"),
            1
        );
        let mut visitors = 0;
        store
            .visitor_firsts(None, &mut |_, _, _| visitors += 1)
            .expect("reads");
        assert_eq!(visitors, 0);
    }
}
