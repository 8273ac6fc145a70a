//! Visitors, sessions and session funnels: what sums cannot answer, because a visitor seen
//! in two buckets is still one visitor, and a funnel depends on the order of one session's
//! events.
//!
//! A pass folds its range, in time order, into a [`Tally`]. Rolled-up days (see
//! [`days`](super::days)) are read from their day rows, which hold for the whole day and per
//! 15-minute bucket the distinct visitors and what each session did (a [`SessionRun`]); the
//! rest is read
//! from the raw rows over the `(ts_micros, shop_id, event_type, session_id, visitor_id,
//! product_id)` index, which holds every column a pass reads, so the table is never touched.
//!
//! Ids are counted by their 64-bit XXH3 fingerprint: two different ids would count as one
//! only if their fingerprints collided, which among a million distinct ids has a probability
//! of about 3 in 100 million. The counts are exact otherwise.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::aggregates::Plan;
use super::days::{self, DAY_MICROS, Stretch, day_of};
use super::people_days::{self, BucketPeople};
use super::queries::EventFilter;
use super::rollup::BUCKET_MICROS;
use crate::event::EventType;

/// Hashing for sets of fingerprints and ids that live only as long as one query.
pub(super) type FastHash = foldhash::fast::RandomState;

/// The 64-bit fingerprint of a visitor or session id; stored in day rows, so it must never
/// change (XXH3 is a fixed, specified function).
pub fn fingerprint(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

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

/// What the last add_to_cart or purchase of a run left the cart as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cart {
    /// The run has neither.
    Unchanged,
    /// Its last one is an add_to_cart.
    Open,
    /// Its last one is a purchase.
    Paid,
}

/// What a run of one session's events, in order, does to that session: the funnel stage it
/// leads to from each stage it may start in, whether it holds an add_to_cart, and what it
/// leaves the cart as. Runs chain ([`SessionRun::then`]), so a day row can store one run per
/// session and bucket, and a pass can apply the runs of consecutive buckets in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRun {
    /// `next_stage[s]`: the stage after the run for a session at stage `s` (0 to 3 steps of
    /// the funnel done in order) before it.
    next_stage: [u8; 4],
    has_cart: bool,
    cart: Cart,
}

impl SessionRun {
    /// No events.
    pub const EMPTY: SessionRun = SessionRun {
        next_stage: [0, 1, 2, 3],
        has_cart: false,
        cart: Cart::Unchanged,
    };

    /// A run of one event.
    pub fn of(event_type: EventType) -> SessionRun {
        let (step, cart) = match event_type {
            EventType::PageView => (0, Cart::Unchanged),
            EventType::AddToCart => (1, Cart::Open),
            EventType::Purchase => (2, Cart::Paid),
        };
        let mut next_stage = SessionRun::EMPTY.next_stage;
        next_stage[step] = step as u8 + 1;
        SessionRun {
            next_stage,
            has_cart: event_type == EventType::AddToCart,
            cart,
        }
    }

    /// This run followed by `later`.
    pub fn then(self, later: SessionRun) -> SessionRun {
        SessionRun {
            next_stage: self
                .next_stage
                .map(|s| later.next_stage[usize::from(s & 3)]),
            has_cart: self.has_cart || later.has_cart,
            cart: match later.cart {
                Cart::Unchanged => self.cart,
                changed => changed,
            },
        }
    }

    /// Two bytes: the four next stages, two bits each; then the cart flags.
    pub fn to_bytes(self) -> [u8; 2] {
        let stages = self
            .next_stage
            .iter()
            .enumerate()
            .fold(0u8, |byte, (i, s)| byte | ((s & 3) << (2 * i)));
        let cart = match self.cart {
            Cart::Unchanged => 0,
            Cart::Open => 1,
            Cart::Paid => 2,
        };
        [stages, u8::from(self.has_cart) | (cart << 1)]
    }

    pub fn from_bytes([stages, flags]: [u8; 2]) -> Result<SessionRun, &'static str> {
        let cart = match flags >> 1 {
            0 => Cart::Unchanged,
            1 => Cart::Open,
            2 => Cart::Paid,
            _ => return Err("unknown cart state"),
        };
        Ok(SessionRun {
            next_stage: [0, 1, 2, 3].map(|i| (stages >> (2 * i)) & 3),
            has_cart: flags & 1 == 1,
            cart,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    /// Funnel steps done in order (0 to 3).
    stage: u8,
    has_cart: bool,
    /// An add_to_cart with no purchase after it (yet).
    cart_open: bool,
}

impl SessionState {
    fn apply(&mut self, run: SessionRun) {
        self.stage = run.next_stage[usize::from(self.stage & 3)];
        self.has_cart |= run.has_cart;
        match run.cart {
            Cart::Unchanged => {}
            Cart::Open => self.cart_open = true,
            Cart::Paid => self.cart_open = false,
        }
    }
}

/// Session runs wait for [`Tally::finish`] in this many partitions, by the top byte of the
/// session's fingerprint.
const PARTITIONS: usize = 256;

/// Raw events' runs are chained per session for up to this many sessions before they join the
/// partitions.
const PENDING_SESSIONS: usize = 1 << 16;

/// Folds events and bucket summaries, in time order, into [`PeopleCounts`]. Pure, so the
/// rules are unit-tested.
///
/// Sessions are folded at the end, one partition at a time: a month at 10M events holds
/// millions of sessions, and one map of them all missed the CPU's cache on nearly every run
/// (two thirds of the pass); a partition's map stays in cache. Each partition keeps its runs
/// in time order, which is all the fold needs.
#[derive(Debug)]
pub struct Tally {
    visitors: HashSet<u64, FastHash>,
    runs: Vec<Vec<(u64, SessionRun)>>,
    /// Runs of raw events, chained per session until a bucket comes or there are many.
    pending: HashMap<u64, SessionRun, FastHash>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            visitors: HashSet::default(),
            runs: vec![Vec::new(); PARTITIONS],
            pending: HashMap::default(),
        }
    }
}

impl Tally {
    /// One event; events must come in time order ("later" is by timestamp, then arrival).
    pub fn observe(&mut self, event_type: EventType, session: Option<&str>, visitor: Option<&str>) {
        self.add(&PersonEvent {
            ts_micros: 0,
            shop: 0,
            event_type,
            session: session.map(fingerprint),
            visitor: visitor.map(fingerprint),
        });
    }

    fn add(&mut self, event: &PersonEvent) {
        if let Some(visitor) = event.visitor {
            self.visitors.insert(visitor);
        }
        if let Some(session) = event.session {
            let run = self.pending.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(SessionRun::of(event.event_type));
            if self.pending.len() >= PENDING_SESSIONS {
                self.move_pending();
            }
        }
    }

    fn add_bucket(&mut self, bucket: &BucketPeople) {
        // Raw events before this bucket come first.
        self.move_pending();
        self.visitors.extend(bucket.visitors.iter().copied());
        for &(session, run) in &bucket.sessions {
            self.push_run(session, run);
        }
    }

    fn move_pending(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for (session, run) in pending.drain() {
            self.push_run(session, run);
        }
        self.pending = pending;
    }

    fn push_run(&mut self, session: u64, run: SessionRun) {
        let partition = (session >> 56) as usize % PARTITIONS;
        if let Some(runs) = self.runs.get_mut(partition) {
            runs.push((session, run));
        }
    }

    pub fn finish(mut self) -> PeopleCounts {
        self.move_pending();
        let mut counts = PeopleCounts {
            visitors: self.visitors.len() as u64,
            ..PeopleCounts::default()
        };
        let mut sessions: HashMap<u64, SessionState, FastHash> = HashMap::default();
        for runs in self.runs {
            sessions.clear();
            for (session, run) in runs {
                sessions.entry(session).or_default().apply(run);
            }
            counts.sessions += sessions.len() as u64;
            for state in sessions.values() {
                counts.sessions_with_cart += u64::from(state.has_cart);
                counts.abandoned_sessions += u64::from(state.cart_open);
                for (step, reached) in counts.funnel.iter_mut().enumerate() {
                    *reached += u64::from(usize::from(state.stage) > step);
                }
            }
        }
        counts
    }
}

/// One raw event of a pass, with its ids fingerprinted.
#[derive(Debug, Clone, Copy)]
pub(super) struct PersonEvent {
    pub ts_micros: i64,
    /// The shop, as an index into the ids [`read_in_order`] returns.
    pub shop: usize,
    pub event_type: EventType,
    pub session: Option<u64>,
    pub visitor: Option<u64>,
}

/// Reads the raw events of a filter that have a session or a visitor (only `product_id`'s
/// when given) in time order, ties in arrival order, and hands each to `visit`. Returns the
/// shop ids that [`PersonEvent::shop`] indexes.
pub(super) fn read_in_order(
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

/// What a pass sees next, in time order.
enum Seen<'a> {
    Event(&'a PersonEvent),
    Bucket(&'a BucketPeople),
}

impl Seen<'_> {
    fn time(&self) -> i64 {
        match self {
            Seen::Event(event) => event.ts_micros,
            Seen::Bucket(bucket) => bucket.start,
        }
    }
}

/// Walks a filter in time order: rolled-up days' whole buckets from their day rows, the rest
/// from raw rows. With `product_id` or [`Plan::Raw`], everything is raw (day rows are not
/// kept per product). With `whole_days`, a rolled-up day wholly inside the range comes as one
/// bucket starting at the day's start.
fn walk(
    connection: &Connection,
    filter: &EventFilter,
    product_id: Option<&str>,
    (plan, whole_days): (Plan, bool),
    mut visit: impl FnMut(Seen<'_>),
) -> Result<(), StoreError> {
    let (from, to) = (filter.from_micros, filter.to_micros);
    let stretches = if plan == Plan::Raw || product_id.is_some() {
        vec![Stretch::Raw(from, to)]
    } else {
        let rolled_up = days::rolled_up_days(connection, from.map(day_of), to)?;
        days::stretches(from, to, &rolled_up)
    };
    let shop = filter.shop_id.as_deref();
    for stretch in stretches {
        match stretch {
            Stretch::Raw(from_micros, to_micros) => {
                let raw = EventFilter {
                    shop_id: filter.shop_id.clone(),
                    from_micros,
                    to_micros,
                };
                read_in_order(connection, &raw, product_id, |event| {
                    visit(Seen::Event(event));
                })?;
            }
            Stretch::Day { day, from, to } => {
                people_days::read(connection, shop, day, (from, to), whole_days, |bucket| {
                    visit(Seen::Bucket(bucket));
                })?;
            }
        }
    }
    Ok(())
}

/// Visitors, sessions, cart abandonment and the session funnel over a filter; with
/// `product_id`, only that product's events count (the funnel of one product).
pub fn people(
    connection: &Connection,
    filter: &EventFilter,
    product_id: Option<&str>,
    plan: Plan,
) -> Result<PeopleCounts, StoreError> {
    let mut tally = Tally::default();
    walk(
        connection,
        filter,
        product_id,
        (plan, true),
        |seen| match seen {
            Seen::Event(event) => tally.add(event),
            Seen::Bucket(bucket) => tally.add_bucket(bucket),
        },
    )?;
    Ok(tally.finish())
}

/// Distinct visitors per slot, for slots `[starts[i], starts[i + 1])`; the last start is the
/// end of the last slot, so the answer has `starts.len() - 1` counts. Day rows answer only
/// when every slot is whole 15-minute buckets (not for minutes).
pub fn visitors_by_slot(
    connection: &Connection,
    filter: &EventFilter,
    starts: &[i64],
    plan: Plan,
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
    let whole_buckets = starts.iter().all(|s| s.rem_euclid(BUCKET_MICROS) == 0);
    let plan = if whole_buckets { plan } else { Plan::Raw };
    // A UTC day may come at once only if no slot starts inside it.
    let whole_days = starts.iter().all(|s| s.rem_euclid(DAY_MICROS) == 0);
    let mut slot = 0;
    let mut seen: HashSet<u64, FastHash> = HashSet::default();
    walk(connection, &range, None, (plan, whole_days), |next| {
        let time = next.time();
        let moved = slot;
        while slot + 1 < starts.len() && starts[slot + 1] <= time {
            slot += 1;
        }
        if slot != moved {
            seen.clear();
        }
        let Some(count) = counts.get_mut(slot) else {
            return;
        };
        let mut add = |visitor: u64| *count += u64::from(seen.insert(visitor));
        match next {
            Seen::Event(event) => event.visitor.into_iter().for_each(&mut add),
            Seen::Bucket(bucket) => bucket.visitors.iter().copied().for_each(&mut add),
        }
    })?;
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

    /// Every sequence of up to five events, as one chained run or event by event, leaves a
    /// session in the same state; and runs survive their two bytes.
    #[test]
    fn chained_runs_do_what_their_events_do() {
        let types = [V, C, P];
        for length in 0..=5u32 {
            for code in 0..3usize.pow(length) {
                let events: Vec<EventType> = (0..length)
                    .map(|i| types[code / 3usize.pow(i) % 3])
                    .collect();
                let chained = events.iter().fold(SessionRun::EMPTY, |run, &event| {
                    run.then(SessionRun::of(event))
                });
                let stored = SessionRun::from_bytes(chained.to_bytes()).expect("decodes");
                assert_eq!(stored, chained);
                for start in [
                    SessionState::default(),
                    SessionState {
                        stage: 2,
                        has_cart: true,
                        cart_open: true,
                    },
                ] {
                    let (mut expected, mut got) = (start, start);
                    for &event in &events {
                        expected.apply(SessionRun::of(event));
                    }
                    got.apply(chained);
                    assert_eq!(
                        (expected.stage, expected.has_cart, expected.cart_open),
                        (got.stage, got.has_cart, got.cart_open),
                        "{events:?}"
                    );
                }
            }
        }
        assert!(SessionRun::from_bytes([0, 6]).is_err());
    }
}
