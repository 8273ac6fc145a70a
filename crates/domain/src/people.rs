//! Visitors, sessions and session funnels, as pure rules: what sums cannot answer, because a
//! visitor seen in two buckets is still one visitor, and a funnel depends on the order of one
//! session's events.
//!
//! A [`Tally`] folds events, and summaries of stretches of them ([`BucketPeople`]), in time
//! order into [`PeopleCounts`]. What a run of one session's events does is a [`SessionRun`]:
//! runs chain, so a summary can hold one run per session and a pass applies them in order.
//!
//! Ids are counted by their 64-bit XXH3 fingerprint: two different ids would count as one
//! only if their fingerprints collided, which among a million distinct ids has a probability
//! of about 3 in 100 million. Sessions, the funnel and abandonment are exact otherwise;
//! visitors are exact up to 2,048 and estimated above with a 0.81 % relative standard error
//! ([`Distinct`]).
//!
//! A whole day comes as a [`DayPeople`]: the sessions that have no event on any other day are
//! already folded into counts of their final states, and only the others are listed with their
//! runs, so a month costs thirty small summaries instead of millions of runs.

use std::collections::HashMap;

use std::collections::HashSet;

use crate::distinct::Distinct;

use crate::event::EventType;
use crate::sessions::SessionCounts;

pub use crate::distinct::FastHash;

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
    /// What the session metrics (bounce, session conversion, pages and duration per session)
    /// count, from the same sessions.
    pub session_metrics: SessionCounts,
    /// Distinct visitors with a purchase (exact, not a sketch: `returning_customers` subtracts
    /// from it).
    pub buyers: u64,
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
/// leads to from each stage it may start in, whether it holds an add_to_cart, what it leaves
/// the cart as, and what the session metrics need (a purchase, how many events and whether
/// all are page views, the first and last event time). Runs chain ([`SessionRun::then`]), so
/// a day row can store one run per session and bucket, and a pass can apply the runs of
/// consecutive buckets in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRun {
    /// `next_stage[s]`: the stage after the run for a session at stage `s` (0 to 3 steps of
    /// the funnel done in order) before it.
    next_stage: [u8; 4],
    has_cart: bool,
    cart: Cart,
    purchased: bool,
    /// Events, saturating at 2: a bounce is exactly one.
    events: u8,
    only_page_views: bool,
    /// The earliest and latest dated event time; `first > last` when no event is dated. Kept
    /// as minimum and maximum, not as "first of the earlier run", so that an undated event
    /// (read first) or a tie changes nothing.
    first: i64,
    last: i64,
}

/// The flag bits of a run's second byte (the first holds the next stages).
const HAS_CART: u8 = 1;
const CART_SHIFT: u8 = 1;
const PURCHASED: u8 = 1 << 3;
const EVENTS_SHIFT: u8 = 4;
const ONLY_PAGE_VIEWS: u8 = 1 << 6;
const DATED: u8 = 1 << 7;

impl SessionRun {
    /// No events.
    pub const EMPTY: SessionRun = SessionRun {
        next_stage: [0, 1, 2, 3],
        has_cart: false,
        cart: Cart::Unchanged,
        purchased: false,
        events: 0,
        only_page_views: true,
        first: i64::MAX,
        last: i64::MIN,
    };

    /// A run of one event at `ts_micros` (`None`: undated).
    pub fn of(event_type: EventType, ts_micros: Option<i64>) -> SessionRun {
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
            purchased: event_type == EventType::Purchase,
            events: 1,
            only_page_views: event_type == EventType::PageView,
            first: ts_micros.unwrap_or(i64::MAX),
            last: ts_micros.unwrap_or(i64::MIN),
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
            purchased: self.purchased || later.purchased,
            events: self.events.saturating_add(later.events).min(2),
            only_page_views: self.only_page_views && later.only_page_views,
            first: self.first.min(later.first),
            last: self.last.max(later.last),
        }
    }

    /// The earliest and latest dated event time, if any event is dated.
    pub fn times(self) -> Option<(i64, i64)> {
        (self.first <= self.last).then_some((self.first, self.last))
    }

    /// Two bytes: the four next stages, two bits each; then the flags (cart, purchase, events,
    /// only page views, dated). The times are stored beside them when dated ([`Self::times`],
    /// [`Self::is_dated`]).
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
        let bit = |on: bool, flag: u8| if on { flag } else { 0 };
        let flags = bit(self.has_cart, HAS_CART)
            | (cart << CART_SHIFT)
            | bit(self.purchased, PURCHASED)
            | ((self.events & 3) << EVENTS_SHIFT)
            | bit(self.only_page_views, ONLY_PAGE_VIEWS)
            | bit(self.times().is_some(), DATED);
        [stages, flags]
    }

    /// Whether the run of these bytes has times, which [`Self::from_bytes`] then needs.
    pub fn is_dated(bytes: [u8; 2]) -> bool {
        bytes[1] & DATED != 0
    }

    /// The run of [`Self::to_bytes`] and its [`Self::times`].
    pub fn from_bytes(
        [stages, flags]: [u8; 2],
        times: Option<(i64, i64)>,
    ) -> Result<SessionRun, &'static str> {
        let cart = match (flags >> CART_SHIFT) & 3 {
            0 => Cart::Unchanged,
            1 => Cart::Open,
            2 => Cart::Paid,
            _ => return Err("unknown cart state"),
        };
        let events = (flags >> EVENTS_SHIFT) & 3;
        if events > 2 {
            return Err("unknown event count");
        }
        let (first, last) = match (flags & DATED != 0, times) {
            (true, Some((first, last))) if first <= last => (first, last),
            (false, None) => (i64::MAX, i64::MIN),
            _ => return Err("times do not match the run"),
        };
        Ok(SessionRun {
            next_stage: [0, 1, 2, 3].map(|i| (stages >> (2 * i)) & 3),
            has_cart: flags & HAS_CART != 0,
            cart,
            purchased: flags & PURCHASED != 0,
            events,
            only_page_views: flags & ONLY_PAGE_VIEWS != 0,
            first,
            last,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Funnel steps done in order (0 to 3).
    stage: u8,
    has_cart: bool,
    /// An add_to_cart with no purchase after it (yet).
    cart_open: bool,
    /// Every run applied, chained: what the session metrics read (their parts of a run do not
    /// depend on the stage a run starts in).
    whole: SessionRun,
}

impl Default for SessionState {
    fn default() -> SessionState {
        SessionState {
            stage: 0,
            has_cart: false,
            cart_open: false,
            whole: SessionRun::EMPTY,
        }
    }
}

impl SessionState {
    /// How many funnel states there are: [`SessionState::index`] is below it.
    pub const COUNT: usize = 16;

    /// The state a session reaches from no events through `run`.
    pub fn after(run: SessionRun) -> SessionState {
        let mut state = SessionState::default();
        state.apply(run);
        state
    }

    /// A dense index of the funnel state, for counting sessions by it.
    pub fn index(self) -> usize {
        usize::from(self.stage & 3)
            | usize::from(self.has_cart) << 2
            | usize::from(self.cart_open) << 3
    }

    fn from_index(index: usize) -> SessionState {
        SessionState {
            stage: (index & 3) as u8,
            has_cart: index & 4 != 0,
            cart_open: index & 8 != 0,
            whole: SessionRun::EMPTY,
        }
    }

    fn apply(&mut self, run: SessionRun) {
        self.stage = run.next_stage[usize::from(self.stage & 3)];
        self.has_cart |= run.has_cart;
        match run.cart {
            Cart::Unchanged => {}
            Cart::Open => self.cart_open = true,
            Cart::Paid => self.cart_open = false,
        }
        self.whole = self.whole.then(run);
    }
}

/// The session metrics' sums over sessions already folded (the sessions a day row holds as
/// contained): the rules of [`SessionCounts`], session by session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSums {
    /// Sessions with a purchase.
    pub converted: u64,
    /// Sessions with exactly one event, a page view.
    pub bounced: u64,
    /// The sum of (last − first event time), in microseconds.
    pub duration_micros: u64,
}

impl SessionSums {
    /// Adds one session, in the state its events left it in.
    pub fn add(&mut self, state: &SessionState) {
        let whole = state.whole;
        self.converted += u64::from(whole.purchased);
        self.bounced += u64::from(whole.events == 1 && whole.only_page_views);
        if let Some((first, last)) = whole.times() {
            self.duration_micros += last.abs_diff(first);
        }
    }

    fn merge(&mut self, other: &SessionSums) {
        self.converted += other.converted;
        self.bounced += other.bounced;
        self.duration_micros += other.duration_micros;
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
    visitors: Distinct,
    /// Sessions already folded (the contained sessions of whole days), by state.
    folded: [u64; SessionState::COUNT],
    /// And their session metrics.
    folded_sums: SessionSums,
    /// Page views of events with a session (a plain count, whatever the session).
    session_page_views: u64,
    /// Visitors with a purchase, exactly.
    buyers: HashSet<u64, FastHash>,
    runs: Vec<Vec<(u64, SessionRun)>>,
    /// Runs of raw events, chained per session until a bucket comes or there are many.
    pending: HashMap<u64, SessionRun, FastHash>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            visitors: Distinct::default(),
            folded: [0; SessionState::COUNT],
            folded_sums: SessionSums::default(),
            session_page_views: 0,
            buyers: HashSet::default(),
            runs: vec![Vec::new(); PARTITIONS],
            pending: HashMap::default(),
        }
    }
}

impl Tally {
    /// One event; events must come in time order ("later" is by timestamp, then arrival).
    pub fn observe(
        &mut self,
        ts_micros: i64,
        event_type: EventType,
        session: Option<&str>,
        visitor: Option<&str>,
    ) {
        self.add(&PersonEvent {
            ts_micros,
            shop: 0,
            event_type,
            session: session.map(fingerprint),
            visitor: visitor.map(fingerprint),
        });
    }

    pub fn add(&mut self, event: &PersonEvent) {
        if let Some(visitor) = event.visitor {
            self.visitors.insert(visitor);
            if event.event_type == EventType::Purchase {
                self.buyers.insert(visitor);
            }
        }
        if let Some(session) = event.session {
            self.session_page_views += u64::from(event.event_type == EventType::PageView);
            let run = self.pending.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(event.run());
            if self.pending.len() >= PENDING_SESSIONS {
                self.move_pending();
            }
        }
    }

    pub fn add_bucket(&mut self, bucket: &BucketPeople) {
        // Raw events before this bucket come first.
        self.move_pending();
        bucket
            .visitors
            .iter()
            .for_each(|&v| self.visitors.insert(v));
        self.buyers.extend(&bucket.buyers);
        self.session_page_views += bucket.session_page_views;
        for &(session, run) in &bucket.sessions {
            self.push_run(session, run);
        }
    }

    /// A whole day: its contained sessions are final, its others chain with the rest.
    pub fn add_day(&mut self, day: &DayPeople) {
        self.move_pending();
        self.visitors.merge(&day.visitors);
        for (folded, contained) in self.folded.iter_mut().zip(day.contained) {
            *folded += contained;
        }
        self.folded_sums.merge(&day.contained_sums);
        self.session_page_views += day.session_page_views;
        self.buyers.extend(&day.buyers);
        for &(session, run) in &day.spanning {
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
        let mut by_state = self.folded;
        let mut sums = self.folded_sums;
        let mut sessions: HashMap<u64, SessionState, FastHash> = HashMap::default();
        for runs in self.runs {
            sessions.clear();
            for (session, run) in runs {
                sessions.entry(session).or_default().apply(run);
            }
            for state in sessions.values() {
                by_state[state.index()] += 1;
                sums.add(state);
            }
        }
        let mut counts = PeopleCounts {
            visitors: self.visitors.count(),
            buyers: self.buyers.len() as u64,
            ..PeopleCounts::default()
        };
        for (index, &sessions) in by_state.iter().enumerate() {
            let state = SessionState::from_index(index);
            counts.sessions += sessions;
            counts.sessions_with_cart += sessions * u64::from(state.has_cart);
            counts.abandoned_sessions += sessions * u64::from(state.cart_open);
            for (step, reached) in counts.funnel.iter_mut().enumerate() {
                *reached += sessions * u64::from(usize::from(state.stage) > step);
            }
        }
        counts.session_metrics = SessionCounts {
            sessions: counts.sessions,
            converted: sums.converted,
            bounced: sums.bounced,
            page_views: self.session_page_views,
            duration_micros: i128::from(sums.duration_micros),
        };
        counts
    }
}

/// One raw event of a pass, with its ids fingerprinted.
#[derive(Debug, Clone, Copy)]
pub struct PersonEvent {
    pub ts_micros: i64,
    /// The shop, as an index into the shop ids of the read that produced the event.
    pub shop: usize,
    pub event_type: EventType,
    pub session: Option<u64>,
    pub visitor: Option<u64>,
}

impl PersonEvent {
    /// The time raw rows without one carry (`NULL` sorts first).
    pub const UNDATED: i64 = i64::MIN;

    /// The run of this one event.
    pub fn run(&self) -> SessionRun {
        let dated = (self.ts_micros != PersonEvent::UNDATED).then_some(self.ts_micros);
        SessionRun::of(self.event_type, dated)
    }
}

/// The people of a stretch of one shop's events (a 15-minute bucket, or a whole day), as a
/// day row stores them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BucketPeople {
    pub start: i64,
    /// Distinct visitor fingerprints, ascending.
    pub visitors: Vec<u64>,
    /// Those of them with a purchase, ascending.
    pub buyers: Vec<u64>,
    /// Page views of events with a session.
    pub session_page_views: u64,
    /// Each session's fingerprint and run, ascending.
    pub sessions: Vec<(u64, SessionRun)>,
}

/// The people of one whole UTC day of one shop, as its day row stores them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DayPeople {
    pub visitors: Distinct,
    /// Sessions with no event on any other day, counted by the state their day leaves them in.
    pub contained: [u64; SessionState::COUNT],
    /// Their session metrics.
    pub contained_sums: SessionSums,
    /// Page views of events with a session, contained or not.
    pub session_page_views: u64,
    /// Distinct visitors with a purchase, ascending (exact: there are few).
    pub buyers: Vec<u64>,
    /// Every other session of the day: its fingerprint and the run of its events that day,
    /// ascending.
    pub spanning: Vec<(u64, SessionRun)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::{AddToCart as C, PageView as V, Purchase as P};

    fn tally(events: &[(EventType, &str)]) -> PeopleCounts {
        let mut tally = Tally::default();
        for (minute, (event_type, session)) in events.iter().enumerate() {
            tally.observe(
                minute as i64 * 60_000_000,
                *event_type,
                Some(session),
                Some(session),
            );
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
        tally.observe(0, V, None, None);
        tally.observe(1, V, None, Some("v"));
        tally.observe(2, V, None, Some("v"));
        let counts = tally.finish();
        assert_eq!((counts.visitors, counts.sessions), (1, 0));
    }

    /// Every sequence of up to five events, as one chained run or event by event, leaves a
    /// session in the same state; and runs survive their two bytes and times.
    #[test]
    fn chained_runs_do_what_their_events_do() {
        let types = [V, C, P];
        for length in 0..=5u32 {
            for code in 0..3usize.pow(length) {
                let events: Vec<EventType> = (0..length)
                    .map(|i| types[code / 3usize.pow(i) % 3])
                    .collect();
                let run_of = |i: usize, event| SessionRun::of(event, Some(i as i64 * 7));
                let chained = events
                    .iter()
                    .enumerate()
                    .fold(SessionRun::EMPTY, |run, (i, &event)| {
                        run.then(run_of(i, event))
                    });
                let bytes = chained.to_bytes();
                assert_eq!(SessionRun::is_dated(bytes), chained.times().is_some());
                let stored = SessionRun::from_bytes(bytes, chained.times()).expect("decodes");
                assert_eq!(stored, chained);
                for start in [
                    SessionState::default(),
                    SessionState {
                        stage: 2,
                        has_cart: true,
                        cart_open: true,
                        ..SessionState::default()
                    },
                ] {
                    let (mut expected, mut got) = (start, start);
                    for (i, &event) in events.iter().enumerate() {
                        expected.apply(run_of(i, event));
                    }
                    got.apply(chained);
                    assert_eq!(expected, got, "{events:?}");
                }
            }
        }
        assert!(SessionRun::from_bytes([0, 6], None).is_err());
        assert!(SessionRun::from_bytes([0, 3 << 4], None).is_err());
        assert!(SessionRun::from_bytes([0, DATED], None).is_err());
        assert!(SessionRun::from_bytes([0, DATED], Some((2, 1))).is_err());
        assert!(SessionRun::from_bytes([0, 0], Some((1, 2))).is_err());
    }

    /// The session metrics of a tally are [`SessionTally`]'s, however the events are cut into
    /// runs (per event, per stretch, per whole session) and whatever is undated.
    #[test]
    fn session_metrics_are_the_session_tallys() {
        use crate::sessions::SessionTally;
        let types = [V, C, P];
        // A small deterministic generator: sessions 0–5, some events undated.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..200 {
            let events: Vec<(i64, EventType, u64)> = (0..next(12))
                .map(|i| {
                    let ts = if next(6) == 0 {
                        i64::MIN
                    } else {
                        i as i64 * 1_000 + next(900) as i64
                    };
                    (ts, types[next(3) as usize], next(6))
                })
                .collect();
            let mut expected = SessionTally::default();
            let mut by_event = Tally::default();
            let mut by_stretch = Tally::default();
            let mut stretch = BucketPeople::default();
            for (i, &(ts, event_type, session)) in events.iter().enumerate() {
                expected.observe(session, (ts != i64::MIN).then_some(ts), event_type);
                let event = PersonEvent {
                    ts_micros: ts,
                    shop: 0,
                    event_type,
                    session: Some(session),
                    visitor: Some(session),
                };
                by_event.add(&event);
                // Stretches of three events, each session's run chained within one.
                stretch.session_page_views += u64::from(event_type == V);
                match stretch.sessions.iter_mut().find(|(s, _)| *s == session) {
                    Some((_, run)) => *run = run.then(event.run()),
                    None => stretch.sessions.push((session, event.run())),
                }
                if i % 3 == 2 {
                    by_stretch.add_bucket(&std::mem::take(&mut stretch));
                }
            }
            by_stretch.add_bucket(&stretch);
            let expected = expected.finish();
            assert_eq!(by_event.finish().session_metrics, expected, "{events:?}");
            assert_eq!(by_stretch.finish().session_metrics, expected, "{events:?}");
        }
    }
}
