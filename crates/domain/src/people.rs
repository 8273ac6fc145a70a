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

use crate::distinct::Distinct;

use crate::event::EventType;

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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionState {
    /// Funnel steps done in order (0 to 3).
    stage: u8,
    has_cart: bool,
    /// An add_to_cart with no purchase after it (yet).
    cart_open: bool,
}

impl SessionState {
    /// How many states there are: [`SessionState::index`] is below it.
    pub const COUNT: usize = 16;

    /// The state a session reaches from no events through `run`.
    pub fn after(run: SessionRun) -> SessionState {
        let mut state = SessionState::default();
        state.apply(run);
        state
    }

    /// A dense index for counting sessions by state.
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
    runs: Vec<Vec<(u64, SessionRun)>>,
    /// Runs of raw events, chained per session until a bucket comes or there are many.
    pending: HashMap<u64, SessionRun, FastHash>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            visitors: Distinct::default(),
            folded: [0; SessionState::COUNT],
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

    pub fn add(&mut self, event: &PersonEvent) {
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

    pub fn add_bucket(&mut self, bucket: &BucketPeople) {
        // Raw events before this bucket come first.
        self.move_pending();
        bucket
            .visitors
            .iter()
            .for_each(|&v| self.visitors.insert(v));
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
        let mut sessions: HashMap<u64, SessionState, FastHash> = HashMap::default();
        for runs in self.runs {
            sessions.clear();
            for (session, run) in runs {
                sessions.entry(session).or_default().apply(run);
            }
            for state in sessions.values() {
                by_state[state.index()] += 1;
            }
        }
        let mut counts = PeopleCounts {
            visitors: self.visitors.count(),
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

/// The people of a stretch of one shop's events (a 15-minute bucket, or a whole day), as a
/// day row stores them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BucketPeople {
    pub start: i64,
    /// Distinct visitor fingerprints, ascending.
    pub visitors: Vec<u64>,
    /// Each session's fingerprint and run, ascending.
    pub sessions: Vec<(u64, SessionRun)>,
}

/// The people of one whole UTC day of one shop, as its day row stores them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DayPeople {
    pub visitors: Distinct,
    /// Sessions with no event on any other day, counted by the state their day leaves them in.
    pub contained: [u64; SessionState::COUNT],
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
