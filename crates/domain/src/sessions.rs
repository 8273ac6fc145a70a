//! What the session metrics (docs/API.md) count (bounce, session conversion, pages and
//! duration per session), as a pure fold over events in time order, and who is new or a
//! returning customer. [`metrics`](crate::metrics) turns the counts into rates.
//!
//! Only the events inside the range count, as for every session metric (docs/API.md): a session
//! that began before the range is measured from its first event in the range.

use std::collections::HashMap;

use crate::event::EventType;
use crate::people::FastHash;

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

#[cfg(test)]
mod tests {
    use super::*;

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
