//! What the session metrics (docs/API.md) count (bounce, session conversion, pages and
//! duration per session), as a pure fold over events in time order, and who is new or a
//! returning customer. [`metrics`](crate::metrics) turns the counts into rates.
//!
//! Only the events inside the range count, as for every session metric (docs/API.md): a session
//! that began before the range is measured from its first event in the range.

use std::collections::HashMap;

use crate::distinct::FastHash;
use crate::event::EventType;

/// The session counts of a set of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub sessions: u64,
    /// Sessions with a purchase.
    pub converted: u64,
    /// Sessions with exactly one event, a page view.
    pub bounced: u64,
    /// Page views of events with a session.
    pub page_views: u64,
    /// The sum over sessions of (last − first event time), in microseconds.
    pub duration_micros: i128,
}

#[derive(Debug, Clone, Copy)]
struct Session {
    events: u64,
    only_page_views: bool,
    purchased: bool,
    first: Option<i64>,
    last: Option<i64>,
}

/// Folds events of sessions, in time order, into [`SessionCounts`].
#[derive(Debug, Default)]
pub struct SessionTally {
    sessions: HashMap<u64, Session, FastHash>,
    page_views: u64,
}

impl SessionTally {
    /// One event of the session with fingerprint `session`, at `ts_micros` (`None`: undated).
    pub fn observe(&mut self, session: u64, ts_micros: Option<i64>, event_type: EventType) {
        let page_view = event_type == EventType::PageView;
        self.page_views += u64::from(page_view);
        let entry = self.sessions.entry(session).or_insert(Session {
            events: 0,
            only_page_views: true,
            purchased: false,
            first: ts_micros,
            last: ts_micros,
        });
        entry.events += 1;
        entry.only_page_views &= page_view;
        entry.purchased |= event_type == EventType::Purchase;
        if let Some(ts) = ts_micros {
            entry.first = Some(entry.first.map_or(ts, |first| first.min(ts)));
            entry.last = Some(entry.last.map_or(ts, |last| last.max(ts)));
        }
    }

    pub fn finish(&self) -> SessionCounts {
        let mut counts = SessionCounts {
            sessions: self.sessions.len() as u64,
            page_views: self.page_views,
            ..SessionCounts::default()
        };
        for session in self.sessions.values() {
            counts.converted += u64::from(session.purchased);
            counts.bounced += u64::from(session.events == 1 && session.only_page_views);
            if let (Some(first), Some(last)) = (session.first, session.last) {
                counts.duration_micros += i128::from(last - first);
            }
        }
        counts
    }
}

/// Who came back: counts over the visitors of a range, given each visitor's first stored event
/// and first stored purchase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitorCounts {
    /// Visitors whose first stored event falls in the range.
    pub new_visitors: u64,
    /// Visitors with a purchase in the range who also purchased before the range's start.
    pub returning_customers: u64,
}

/// How many visitors of the shops asked have their first stored event, and how many their
/// first stored purchase, in a range: what `new_visitors` counts, and what `returning_customers`
/// subtracts from the range's buyers.
///
/// `returning_customers` = (distinct buyers in the range) − (visitors whose first purchase is
/// in the range), for a range `[from, to)`. Why: a buyer `b` of the range has a purchase at some
/// `t` in `[from, to)`, so its first purchase is at most `t < to`: either before `from` (`b`
/// returns) or in `[from, to)`. Conversely, a visitor whose first purchase is in `[from, to)`
/// made that purchase in the range, so it is a buyer of the range, and it did not purchase
/// before `from`. So the buyers split into the returning customers and the first purchasers,
/// with nobody in both, and the count of the first is the difference. It holds as long as
/// every purchase a first purchase time comes from is still stored, which retention breaks for
/// a range that reaches before its horizon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstsInRange {
    pub first_visits: u64,
    pub first_purchases: u64,
}

impl FirstsInRange {
    /// The visitor counts of a range with `buyers` distinct buyers; `from_micros` is its start
    /// (`returning_customers` is 0 without one).
    pub fn visitor_counts(self, buyers: u64, from_micros: Option<i64>) -> VisitorCounts {
        VisitorCounts {
            new_visitors: self.first_visits,
            returning_customers: match from_micros {
                Some(_) => buyers.saturating_sub(self.first_purchases),
                None => 0,
            },
        }
    }
}

/// The earlier of two `(first event, first purchase)` times of one visitor, each part on its
/// own (a missing purchase is later than any): the rule `visitors` keeps its rows by.
pub fn earliest_firsts(a: (i64, Option<i64>), b: (i64, Option<i64>)) -> (i64, Option<i64>) {
    let purchase = match (a.1, b.1) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (a.0.min(b.0), purchase)
}

/// Each visitor's first stored event and first stored purchase, a visitor being one id across
/// the shops it is given for: its first times are the earliest over them.
#[derive(Debug, Default)]
pub struct VisitorFirsts {
    firsts: HashMap<u64, (i64, Option<i64>), FastHash>,
}

impl VisitorFirsts {
    /// One shop's first times of the visitor with fingerprint `visitor`.
    pub fn add(&mut self, visitor: u64, first: i64, purchase: Option<i64>) {
        let entry = self.firsts.entry(visitor).or_insert((first, purchase));
        *entry = earliest_firsts(*entry, (first, purchase));
    }

    /// The visitors whose first event, and those whose first purchase, is in `[from, to)`
    /// (`None`: open).
    pub fn in_range(&self, from: Option<i64>, to: Option<i64>) -> FirstsInRange {
        let in_range = |ts: i64| from.is_none_or(|from| ts >= from) && to.is_none_or(|to| ts < to);
        let mut counts = FirstsInRange::default();
        for (first, purchase) in self.firsts.values() {
            counts.first_visits += u64::from(in_range(*first));
            counts.first_purchases += u64::from(purchase.is_some_and(in_range));
        }
        counts
    }

    /// Of `buyers`, those who purchased before `from` (none without `from`): the definition of
    /// `returning_customers`, which [`FirstsInRange::visitor_counts`] must equal.
    pub fn returning<'a>(
        &self,
        buyers: impl IntoIterator<Item = &'a u64>,
        from: Option<i64>,
    ) -> u64 {
        let Some(from) = from else {
            return 0;
        };
        buyers
            .into_iter()
            .filter(|buyer| {
                self.firsts
                    .get(buyer)
                    .and_then(|(_, purchase)| *purchase)
                    .is_some_and(|purchase| purchase < from)
            })
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buyers minus first purchasers is the returning customers, for every range over a few
    /// visitors' purchases (each purchase also a stored event, as the writer keeps them).
    #[test]
    fn returning_customers_are_buyers_minus_first_purchasers() {
        // Per visitor: its purchase times (its first event is at 0 or its first purchase).
        let purchases: [&[i64]; 5] = [&[], &[3], &[1, 5], &[2, 4, 6], &[6]];
        let mut firsts = VisitorFirsts::default();
        for (visitor, times) in purchases.iter().enumerate() {
            let first = if visitor % 2 == 0 { 0 } else { times[0] };
            firsts.add(visitor as u64, first, times.first().copied());
        }
        for from in 0..8 {
            for to in from..8 {
                let buyers: Vec<u64> = (0..purchases.len() as u64)
                    .filter(|&v| purchases[v as usize].iter().any(|t| (from..to).contains(t)))
                    .collect();
                let counts = firsts
                    .in_range(Some(from), Some(to))
                    .visitor_counts(buyers.len() as u64, Some(from));
                assert_eq!(
                    counts.returning_customers,
                    firsts.returning(&buyers, Some(from)),
                    "[{from}, {to})"
                );
            }
        }
    }

    #[test]
    fn a_lone_page_view_bounces_and_a_purchase_converts() {
        let mut tally = SessionTally::default();
        tally.observe(1, Some(10), EventType::PageView);
        tally.observe(2, Some(10), EventType::PageView);
        tally.observe(2, Some(70_000_000), EventType::Purchase);
        tally.observe(3, Some(5), EventType::AddToCart);
        let counts = tally.finish();
        assert_eq!(
            counts,
            SessionCounts {
                sessions: 3,
                converted: 1,
                bounced: 1,
                page_views: 2,
                duration_micros: 69_999_990,
            }
        );
    }
}
