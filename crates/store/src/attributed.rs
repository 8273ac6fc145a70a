//! The attributed pass: what needs each event's session attribution, read from the raw
//! events through [`ReadBackend::attributed_events`] — the rows of a breakdown (docs/API.md, "Where buyers come from") and
//! the session metrics and returning people of a summary. The rules are the domain's
//! ([`domain::sessions`], [`domain::formulas`]); this module only groups the events.

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::backend::{AttributedEvent, ReadBackend};
use super::filter::EventFilter;
use domain::attribution::{BreakdownDimension, Filters};
use domain::event::EventType;
use domain::formulas::BreakdownRow;
use domain::people::{FastHash, fingerprint};
use domain::sessions::{SessionCounts, SessionTally, VisitorCounts, VisitorFirsts};
use domain::sums::Sums;

/// What one breakdown value has gathered.
#[derive(Default)]
struct Group {
    sums: Sums,
    visitors: HashSet<u64, FastHash>,
    sessions: SessionTally,
}

impl Group {
    fn add(&mut self, event: &AttributedEvent<'_>) {
        let facts = &event.facts;
        self.sums.observe(facts.event_type, facts.purchase_amount());
        if let Some(visitor) = event.visitor {
            self.visitors.insert(fingerprint(visitor));
        }
        if let Some(session) = event.session {
            self.sessions
                .observe(fingerprint(session), event.ts_micros, facts.event_type);
        }
    }
}

/// The rows of a breakdown of the events of `filter` that `filters` select, one per value
/// (unranked: [`domain::formulas::rank_breakdown`] ranks them).
pub fn breakdown(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Filters,
    dimension: BreakdownDimension,
) -> Result<Vec<BreakdownRow>, StoreError> {
    match dimension {
        BreakdownDimension::Attribute(attribute) => {
            let mut groups: HashMap<Option<String>, Group, FastHash> = HashMap::default();
            store.attributed_events(filter, filters, &mut |event| {
                let value = event.attributed.get(attribute);
                match groups.get_mut(&value.map(str::to_owned)) {
                    Some(group) => group.add(event),
                    None => groups
                        .entry(value.map(str::to_owned))
                        .or_default()
                        .add(event),
                }
            })?;
            Ok(groups
                .into_iter()
                .map(|(value, group)| {
                    BreakdownRow::compute(
                        value,
                        &group.sums,
                        group.visitors.len() as u64,
                        &group.sessions.finish(),
                    )
                })
                .collect())
        }
        BreakdownDimension::Page => {
            let mut pages: HashMap<Option<String>, (u64, HashSet<u64, FastHash>), FastHash> =
                HashMap::default();
            store.attributed_events(filter, filters, &mut |event| {
                if event.facts.event_type != EventType::PageView {
                    return;
                }
                let page = pages.entry(event.path.map(str::to_owned)).or_default();
                page.0 += 1;
                if let Some(visitor) = event.visitor {
                    page.1.insert(fingerprint(visitor));
                }
            })?;
            Ok(pages
                .into_iter()
                .map(|(value, (views, visitors))| {
                    BreakdownRow::page(value, views, visitors.len() as u64)
                })
                .collect())
        }
    }
}

/// The session counts of the events of `filter`, and who among their visitors is new or a
/// returning customer. They need no attribution, so they read the people events (the
/// covering index of the people passes; over a [`Segment`](super::segment::Segment), its
/// events).
pub fn audience(
    store: &dyn ReadBackend,
    filter: &EventFilter,
) -> Result<(SessionCounts, VisitorCounts), StoreError> {
    let mut sessions = SessionTally::default();
    let mut buyers: HashSet<u64, FastHash> = HashSet::default();
    store.person_events(filter, None, &mut |event| {
        let ts = (event.ts_micros != i64::MIN).then_some(event.ts_micros);
        if let Some(session) = event.session {
            sessions.observe(session, ts, event.event_type);
        }
        if let (Some(visitor), EventType::Purchase) = (event.visitor, event.event_type) {
            buyers.insert(visitor);
        }
    })?;
    // A visitor is one id across shops, as in every people count: its first times are the
    // earliest over the shops asked about.
    let mut firsts = VisitorFirsts::default();
    store.visitor_firsts(
        filter.shop_id.as_deref(),
        &mut |visitor, first, purchase| firsts.add(fingerprint(visitor), first, purchase),
    )?;
    let new_visitors = firsts
        .in_range(filter.from_micros, filter.to_micros)
        .first_visits;
    let returning_customers = firsts.returning(&buyers, filter.from_micros);
    Ok((
        sessions.finish(),
        VisitorCounts {
            new_visitors,
            returning_customers,
        },
    ))
}
