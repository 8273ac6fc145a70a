//! Where each session came from, kept exact by the writer (docs/API.md, "Attribution").
//!
//! `sessions` holds, per (shop, session), the attribution of its first stored event — the
//! earliest by timestamp, then by arrival (the row id, which follows the Redis stream's order)
//! — and the path of its first page view (`landing_page`). `visitors` holds, per (shop,
//! visitor), the time of its first event and of its first purchase, for `new_visitors` and
//! `returning_customers`. A writer notes each batch's firsts ([`batch_firsts`]) and merges them
//! with the stored ones ([`Credit::merged`]) inside the insert's transaction, so these tables
//! describe exactly the stored events: an event that arrives after later ones of its session,
//! but is earlier, takes the session over in the same commit that stores it, and the
//! session's events already in the rollups are moved to the new values
//! ([`Deltas::move_credit`](super::rollups::Deltas::move_credit)). Bots are left out, as from
//! every metric.

use rusqlite::{Connection, OptionalExtension, params};

use super::grain::day_of;
use super::rollups::Deltas;
use super::{StoreError, days};
use domain::attribution::{Attribute, Attributed};
use domain::dimension::Facts;
use domain::event::{Event, EventType, Traffic};
use domain::sessions::{FirstsInRange, earliest_firsts};

/// The attributes a session takes from its first event (all but the landing page), in
/// [`Attribute`] order: the stored columns of [`Credit::traffic`].
pub const FIRST_EVENT_ATTRIBUTES: [Attribute; 9] = [
    Attribute::Channel,
    Attribute::Source,
    Attribute::Medium,
    Attribute::Campaign,
    Attribute::Referrer,
    Attribute::Device,
    Attribute::Browser,
    Attribute::Os,
    Attribute::Country,
];

/// An event's own value of one of [`FIRST_EVENT_ATTRIBUTES`].
pub fn traffic_value(traffic: &Traffic, attribute: Attribute) -> Option<&str> {
    match attribute {
        Attribute::Channel => traffic.channel.as_deref(),
        Attribute::Source => traffic.source.as_deref(),
        Attribute::Medium => traffic.medium.as_deref(),
        Attribute::Campaign => traffic.campaign.as_deref(),
        Attribute::Referrer => traffic.referrer_domain.as_deref(),
        Attribute::Device => traffic.device.as_deref(),
        Attribute::Browser => traffic.browser.as_deref(),
        Attribute::Os => traffic.os.as_deref(),
        Attribute::Country => traffic.country.as_deref(),
        Attribute::LandingPage => None,
    }
}

/// What an event is credited to without a session: its own fields, and its own path as
/// landing page when it is a page view (as the raw pass's SQL credits it).
pub fn own_credit(event: &Event) -> Attributed<'_> {
    let mut attributed = Attributed::default();
    for attribute in FIRST_EVENT_ATTRIBUTES {
        attributed.values[attribute.index()] = traffic_value(&event.traffic, attribute);
    }
    attributed.values[Attribute::LandingPage.index()] = (event.event_type == EventType::PageView)
        .then_some(event.path.as_deref())
        .flatten();
    attributed
}

/// One row of `sessions`: what a session's events are credited to, and which events decided
/// it (their time, `None` for an undated imported row, which nothing takes over, and row id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub first: (Option<i64>, i64),
    /// In [`FIRST_EVENT_ATTRIBUTES`] order.
    pub traffic: [Option<String>; 9],
    /// The first page view's time, row id and path; `None` before the session has one.
    pub landing: Option<(Option<i64>, i64, Option<String>)>,
}

impl Credit {
    /// The stored columns, in the order of [`Credit::from_columns`].
    pub const COLUMNS: &str = "first_ts, first_id, channel, source, medium, campaign, \
        referrer_domain, device, browser, os, country, landing_ts, landing_id, landing_page";

    /// The credit of a session new to the store, from its batch's firsts.
    pub fn of(firsts: &SessionFirsts<'_>) -> Credit {
        let (event, id) = firsts.first;
        Credit {
            first: (Some(event.timestamp.timestamp_micros()), id),
            traffic: FIRST_EVENT_ATTRIBUTES
                .map(|attribute| traffic_value(&event.traffic, attribute).map(str::to_owned)),
            landing: firsts.landing.map(|(page_view, id)| {
                (
                    Some(page_view.timestamp.timestamp_micros()),
                    id,
                    page_view.path.clone(),
                )
            }),
        }
    }

    /// The stored credit after a batch with these firsts: taken over only by an event before
    /// its first one, its landing page only by an earlier page view (or a first one). `None`
    /// when the batch changes nothing.
    pub fn merged(&self, firsts: &SessionFirsts<'_>) -> Option<Credit> {
        let batch = Credit::of(firsts);
        let earlier = |(ts, id): (Option<i64>, i64), (stored_ts, stored_id): (Option<i64>, i64)| {
            // An undated stored row compares as SQL's NULL does: never taken over.
            matches!((ts, stored_ts), (Some(ts), Some(stored)) if (ts, id) < (stored, stored_id))
        };
        let mut merged = self.clone();
        if earlier(batch.first, self.first) {
            merged.first = batch.first;
            merged.traffic = batch.traffic;
        }
        if let Some((ts, id, path)) = batch.landing {
            let takes_over = match &self.landing {
                None => true,
                Some((stored_ts, stored_id, _)) => earlier((ts, id), (*stored_ts, *stored_id)),
            };
            if takes_over {
                merged.landing = Some((ts, id, path));
            }
        }
        (merged != *self).then_some(merged)
    }

    /// What the session's events are credited to.
    pub fn attributed(&self) -> Attributed<'_> {
        let mut attributed = Attributed::default();
        for (attribute, value) in FIRST_EVENT_ATTRIBUTES.iter().zip(&self.traffic) {
            attributed.values[attribute.index()] = value.as_deref();
        }
        attributed.values[Attribute::LandingPage.index()] = self
            .landing
            .as_ref()
            .and_then(|(_, _, page)| page.as_deref());
        attributed
    }

    /// Reads the columns of [`Credit::COLUMNS`] from `get` (by their place in that list).
    pub fn from_columns<E>(
        mut get_i64: impl FnMut(usize) -> Result<Option<i64>, E>,
        mut get_text: impl FnMut(usize) -> Result<Option<String>, E>,
    ) -> Result<Credit, E> {
        let mut traffic: [Option<String>; 9] = Default::default();
        for (i, value) in traffic.iter_mut().enumerate() {
            *value = get_text(2 + i)?;
        }
        let landing = match get_i64(12)? {
            Some(id) => Some((get_i64(11)?, id, get_text(13)?)),
            None => None,
        };
        Ok(Credit {
            first: (get_i64(0)?, get_i64(1)?.unwrap_or_default()),
            traffic,
            landing,
        })
    }
}

/// A session taken over by a batch: what its events were credited to, and are now.
#[derive(Debug, Clone)]
pub struct TakeOver<'e> {
    pub shop: &'e str,
    pub session: &'e str,
    pub old: Credit,
    pub new: Credit,
}

/// Records one SQLite batch's sessions and visitors (`stored`: each inserted event with its
/// row id): one read and at most one write per session and one upsert per visitor, inside the
/// insert's transaction; then moves the events of the sessions it took over that the rollups
/// hold (row ids up to `folded`) to their new credit.
pub(super) fn record_batch(
    transaction: &Connection,
    stored: &[(&Event, i64)],
    folded: i64,
) -> Result<(), StoreError> {
    let firsts = batch_firsts(stored);
    let mut taken_over: Vec<TakeOver<'_>> = Vec::new();
    {
        let mut read = transaction.prepare_cached(&format!(
            "SELECT {} FROM sessions WHERE shop_id = ?1 AND session_id = ?2",
            Credit::COLUMNS
        ))?;
        let mut write = transaction.prepare_cached(&format!(
            "INSERT OR REPLACE INTO sessions (shop_id, session_id, {})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            Credit::COLUMNS
        ))?;
        for (&(shop, session), session_firsts) in &firsts.sessions {
            let stored_credit = read
                .query_row(params![shop, session], |row| {
                    Credit::from_columns(|i| row.get(i), |i| row.get(i))
                })
                .optional()?;
            let new = match &stored_credit {
                None => Credit::of(session_firsts),
                Some(old) => match old.merged(session_firsts) {
                    Some(new) => new,
                    None => continue,
                },
            };
            let landing = new.landing.as_ref();
            write.execute(params![
                shop,
                session,
                new.first.0,
                new.first.1,
                new.traffic[0],
                new.traffic[1],
                new.traffic[2],
                new.traffic[3],
                new.traffic[4],
                new.traffic[5],
                new.traffic[6],
                new.traffic[7],
                new.traffic[8],
                landing.and_then(|l| l.0),
                landing.map(|l| l.1),
                landing.and_then(|l| l.2.as_deref()),
            ])?;
            if let Some(old) = stored_credit {
                taken_over.push(TakeOver {
                    shop,
                    session,
                    old,
                    new,
                });
            }
        }
        let mut visitors = transaction.prepare_cached(&format!(
            "INSERT INTO visitors (shop_id, visitor_id, first_ts, first_purchase_ts)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (shop_id, visitor_id) DO UPDATE SET
                first_ts = MIN(first_ts, excluded.first_ts),
                first_purchase_ts = COALESCE(
                    MIN(first_purchase_ts, excluded.first_purchase_ts),
                    first_purchase_ts, excluded.first_purchase_ts)
             WHERE {VISITOR_IS_EARLIER}"
        ))?;
        for (&(shop, visitor), (first, purchase)) in &firsts.visitors {
            visitors.execute(params![shop, visitor, first, purchase])?;
        }
        let mut all_shops = transaction.prepare_cached(&format!(
            "{UPSERT_VISITOR_OF_ALL_SHOPS}{VISITOR_IS_EARLIER}"
        ))?;
        for (visitor, (first, purchase)) in firsts.visitors_of_all_shops() {
            all_shops.execute(params![visitor, first, purchase])?;
        }
    }
    let changed: Vec<(&str, &str)> = taken_over
        .iter()
        .filter(|take_over| take_over.old.attributed() != take_over.new.attributed())
        .map(|take_over| (take_over.shop, take_over.session))
        .collect();
    forget_value_days_of(transaction, &changed)?;
    move_folded(transaction, &taken_over, folded)
}

/// Marks stale the day rows per attributed value of every day with an event of each
/// `(shop, session)`: the session's attribution changed, and those rows filed its run under
/// the old one. The days are its stored events' own (this batch's included), so never
/// narrower than the events.
pub(super) fn forget_value_days_of(
    transaction: &Connection,
    sessions: &[(&str, &str)],
) -> Result<(), StoreError> {
    let mut span = transaction.prepare_cached(
        "SELECT MIN(ts_micros), MAX(ts_micros) FROM events WHERE shop_id = ?1 AND session_id = ?2",
    )?;
    for &(shop, session) in sessions {
        let (first, last): (Option<i64>, Option<i64>) =
            span.query_row(params![shop, session], |row| Ok((row.get(0)?, row.get(1)?)))?;
        if let (Some(first), Some(last)) = (first, last) {
            days::forget_value_days(transaction, (day_of(first), day_of(last)))?;
        }
    }
    Ok(())
}

/// Moves the folded events (row id up to `folded`) of the sessions taken over to their new
/// credit in the rollups.
fn move_folded(
    transaction: &Connection,
    taken_over: &[TakeOver<'_>],
    folded: i64,
) -> Result<(), StoreError> {
    if taken_over.is_empty() {
        return Ok(());
    }
    let mut read = transaction.prepare_cached(
        "SELECT ts_micros, event_type, amount_micros FROM events
         WHERE shop_id = ?1 AND session_id = ?2 AND id <= ?3 AND is_bot = 0",
    )?;
    let mut deltas = Deltas::default();
    for take_over in taken_over {
        let (old, new) = (take_over.old.attributed(), take_over.new.attributed());
        let mut rows = read.query(params![take_over.shop, take_over.session, folded])?;
        while let Some(row) = rows.next()? {
            let Some(event_type) = row
                .get_ref(1)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?
                .and_then(EventType::parse)
            else {
                continue;
            };
            let facts = Facts {
                event_type,
                amount_micros: row.get(2)?,
                product_id: None,
                currency: None,
                attributed: old,
            };
            deltas.move_credit(take_over.shop, row.get(0)?, &facts, &new);
        }
    }
    deltas.apply(transaction)?;
    deltas.delete_emptied(transaction)
}

/// When an upsert of a visitor changes its row: only an earlier first event or first purchase.
/// Most events of a known visitor change nothing, and skipping their update spares the
/// indexes of `visitors` a rewrite of the same entries.
pub(crate) const VISITOR_IS_EARLIER: &str = "excluded.first_ts < visitors.first_ts
    OR (excluded.first_purchase_ts IS NOT NULL
        AND (visitors.first_purchase_ts IS NULL
            OR excluded.first_purchase_ts < visitors.first_purchase_ts))";

/// How many visitors have their first event, and how many their first purchase, in
/// `[?2, ?3)`, among the shop `?1`: two counts over the indexes `visitors_shop_first` and
/// `visitors_shop_first_purchase`. Written once for both stores (PostgreSQL numbers its
/// parameters `$1`).
pub(crate) const FIRSTS_OF_SHOP: &str = "SELECT
    (SELECT COUNT(*) FROM visitors
     WHERE shop_id = ?1 AND first_ts >= ?2 AND first_ts < ?3),
    (SELECT COUNT(*) FROM visitors
     WHERE shop_id = ?1 AND first_purchase_ts >= ?2 AND first_purchase_ts < ?3)";

/// The same over all shops, where a visitor is one id across shops: `visitors_all` holds each
/// id once with its earliest times over every shop, kept by the writer beside `visitors`, so
/// the counts are two index ranges too, not a check of every visitor of the range against its
/// other shops' rows.
pub(crate) const FIRSTS_OF_ALL_SHOPS: &str = "SELECT
    (SELECT COUNT(*) FROM visitors_all WHERE first_ts >= ?1 AND first_ts < ?2),
    (SELECT COUNT(*) FROM visitors_all
     WHERE first_purchase_ts >= ?1 AND first_purchase_ts < ?2)";

/// Adds a batch's visitors to `visitors_all` (`?1` visitor, `?2` first time, `?3` first
/// purchase), with the rule of `visitors`.
const UPSERT_VISITOR_OF_ALL_SHOPS: &str = "INSERT INTO visitors_all AS visitors
        (visitor_id, first_ts, first_purchase_ts)
     VALUES (?1, ?2, ?3)
     ON CONFLICT (visitor_id) DO UPDATE SET
        first_ts = MIN(visitors.first_ts, excluded.first_ts),
        first_purchase_ts = COALESCE(
            MIN(visitors.first_purchase_ts, excluded.first_purchase_ts),
            visitors.first_purchase_ts, excluded.first_purchase_ts)
     WHERE ";

/// Sets a visitor's row of `visitors_all` again from its rows of `visitors` (after `forget`).
pub(crate) const REBUILD_VISITOR_OF_ALL_SHOPS: [&str; 2] = [
    "DELETE FROM visitors_all WHERE visitor_id = ?1",
    "INSERT INTO visitors_all (visitor_id, first_ts, first_purchase_ts)
     SELECT visitor_id, MIN(first_ts), MIN(first_purchase_ts) FROM visitors
     WHERE visitor_id = ?1 GROUP BY visitor_id",
];

/// SQLite's answer to [`FIRSTS_OF_SHOP`] (`shop` given) or [`FIRSTS_OF_ALL_SHOPS`].
pub(super) fn firsts_in_range(
    connection: &Connection,
    shop: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<FirstsInRange, StoreError> {
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    let read = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
    let (first_visits, first_purchases): (i64, i64) = match shop {
        Some(shop) => connection
            .prepare_cached(FIRSTS_OF_SHOP)?
            .query_row(params![shop, from, to], read)?,
        None => connection
            .prepare_cached(FIRSTS_OF_ALL_SHOPS)?
            .query_row(params![from, to], read)?,
    };
    Ok(FirstsInRange {
        first_visits: first_visits as u64,
        first_purchases: first_purchases as u64,
    })
}

/// What one batch's stored events say of their sessions' first event and first page view,
/// and their visitors' first event and first purchase (bots left out, earliest
/// `(timestamp, row id)` first): sorted by key, so concurrent writers lock rows in one order.
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

impl<'e> BatchFirsts<'e> {
    /// The visitors' first times over all shops (for `visitors_all`), sorted by id.
    pub fn visitors_of_all_shops(&self) -> std::collections::BTreeMap<&'e str, (i64, Option<i64>)> {
        let mut all = std::collections::BTreeMap::new();
        for (&(_, visitor), &(first, purchase)) in &self.visitors {
            let entry = all.entry(visitor).or_insert((first, purchase));
            *entry = earliest_firsts(*entry, (first, purchase));
        }
        all
    }
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
            *entry = earliest_firsts(*entry, (ts, purchase));
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
    // Their remaining events may be credited to another first now.
    let changed: Vec<(&str, &str)> = sessions.iter().map(|s| (shop_id, s.as_str())).collect();
    forget_value_days_of(transaction, &changed)?;
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
        for statement in REBUILD_VISITOR_OF_ALL_SHOPS {
            transaction.execute(statement, [visitor])?;
        }
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
                values.push(event.facts.attributed.get(attribute).map(str::to_owned));
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

    /// A session over two rolled-up days taken over by an earlier event on the first: the
    /// second day gains no event, yet its rows per value filed the session under its old
    /// channel, so they go stale with the first day's; rolled up again, they file it anew.
    #[test]
    fn a_session_taken_over_stales_the_rows_per_value_of_every_day_it_spans() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.db");
        let mut writer = Writer::open(&path).expect("opens");
        let roll_up_all = |writer: &mut Writer| {
            let now = chrono::Utc::now().timestamp_micros();
            while writer
                .roll_up_next_day(now, std::time::Duration::ZERO)
                .expect("rolls up")
                .is_some()
            {}
        };
        writer
            .insert_batch(&[
                event("b", "page_view", "2025-10-02T23:50:00Z", "Direct", None),
                event("c", "purchase", "2025-10-03T00:10:00Z", "Direct", None),
            ])
            .expect("stores");
        roll_up_all(&mut writer);
        let store = open_and_migrate(&path, Synchronous::Normal).expect("reads");
        let (october_2, october_3) = (1_759_363_200_000_000, 1_759_449_600_000_000);
        assert_eq!(
            store.value_days(None, None).expect("reads"),
            vec![october_2, october_3]
        );
        let channels_of_october_3 = |store: &rusqlite::Connection| {
            let day = EventFilter {
                shop_id: None,
                from_micros: Some(october_3),
                to_micros: Some(october_3 + super::super::grain::DAY_MICROS),
            };
            let mut sessions: Vec<(String, u64)> = crate::attributed::people_by_value(
                store,
                &day,
                Attribute::Channel,
                crate::Plan::Rollup,
            )
            .expect("reads")
            .into_iter()
            .map(|(value, people)| (value, people.sessions))
            .collect();
            sessions.sort();
            sessions
        };
        assert_eq!(channels_of_october_3(&store), [("Direct".to_owned(), 1)]);
        writer
            .insert_batch(&[event(
                "a",
                "add_to_cart",
                "2025-10-02T10:00:00Z",
                "Email",
                None,
            )])
            .expect("stores");
        assert_eq!(
            store.value_days(None, None).expect("reads"),
            Vec::<i64>::new()
        );
        assert_eq!(channels_of_october_3(&store), [("Email".to_owned(), 1)]);
        roll_up_all(&mut writer);
        assert_eq!(
            store.value_days(None, None).expect("reads"),
            vec![october_2, october_3]
        );
        assert_eq!(channels_of_october_3(&store), [("Email".to_owned(), 1)]);
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
