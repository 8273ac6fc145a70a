//! The attributed pass: what needs each event's session attribution — the rows of a
//! breakdown (docs/API.md, "Where buyers come from") and the session metrics and returning
//! people of a summary. A breakdown's sums come from the rollups of the attributed dimension
//! (the [`read`](super::read) readers); its people from the day rows of people per attributed
//! value and raw edges ([`people_by_value`]). Under filters a breakdown's people, and the
//! summary's raw reference, come from the raw events through
//! [`ReadBackend::attributed_events`]. The rules are the domain's ([`domain::sessions`],
//! [`domain::formulas`]); this module only groups the events.

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::backend::{AttributedEvent, DayPart, ReadBackend, ValueDay};
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, DAY_MICROS, day_of};
use super::people_days;
use super::plan::{Plan, Stretch, stretches};
use super::read::sums_by_value;
use super::segment::{Segment, narrowed};
use domain::attribution::{Attribute, BreakdownDimension, Filters};
use domain::dimension::{Dimension, NO_VALUE};
use domain::distinct::Distinct;
use domain::event::EventType;
use domain::formulas::BreakdownRow;
use domain::people::{FastHash, PeopleCounts, PersonEvent, Tally, fingerprint};
use domain::sessions::{SessionCounts, SessionTally, VisitorCounts, VisitorFirsts};
use domain::sums::Sums;

/// The people of one breakdown value: its visitors (a [`Distinct`], as every visitor count:
/// exact up to 2,048, the same estimate above whichever plan reads them) and its sessions.
#[derive(Default)]
struct People {
    visitors: Distinct,
    sessions: SessionTally,
}

impl People {
    fn add(&mut self, event: &AttributedEvent<'_>) {
        if let Some(visitor) = event.visitor {
            self.visitors.insert(fingerprint(visitor));
        }
        if let Some(session) = event.session {
            self.sessions.observe(
                fingerprint(session),
                event.ts_micros,
                event.facts.event_type,
            );
        }
    }
}

/// The rows of a breakdown of the events of `filter` that `filters` select, one per value
/// (unranked: [`domain::formulas::rank_breakdown`] ranks them). An attribute's rows take
/// their sums from one reader ([`breakdown_sums`]: the rollups of the attributed dimension,
/// as `plan` allows) and their people from another: without filters under
/// [`Plan::Rollup`], the day rows of people per value and raw edges
/// ([`people_by_value`]), else a raw pass ([`breakdown_people`]); both count visitors
/// as a [`Distinct`], so they agree.
pub fn breakdown(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Filters,
    dimension: BreakdownDimension,
    plan: Plan,
) -> Result<Vec<BreakdownRow>, StoreError> {
    match dimension {
        BreakdownDimension::Attribute(attribute) => {
            let mut sums = breakdown_sums(store, filter, filters, attribute, plan)?;
            let mut people: HashMap<Option<String>, (u64, SessionCounts), FastHash> =
                if filters.is_empty() && plan == Plan::Rollup {
                    people_by_value(store, filter, attribute, plan)?
                        .into_iter()
                        .map(|(value, people)| {
                            let value = Dimension::shown(&value).map(str::to_owned);
                            (value, (people.visitors, people.session_metrics))
                        })
                        .collect()
                } else {
                    breakdown_people(store, filter, filters, attribute)?
                        .into_iter()
                        .map(|(value, people)| {
                            let visitors = people.visitors.count();
                            (value, (visitors, people.sessions.finish()))
                        })
                        .collect()
                };
            let mut values: Vec<Option<String>> =
                sums.keys().chain(people.keys()).cloned().collect();
            values.sort_unstable();
            values.dedup();
            Ok(values
                .into_iter()
                .map(|value| {
                    let sums = sums.remove(&value).unwrap_or_default();
                    let (visitors, sessions) = people.remove(&value).unwrap_or_default();
                    BreakdownRow::compute(value, &sums, visitors, &sessions)
                })
                .collect())
        }
        BreakdownDimension::Page => {
            let mut pages: HashMap<Option<String>, (u64, HashSet<u64, FastHash>), FastHash> =
                HashMap::default();
            store.page_views(filter, filters, &mut |path, visitor| {
                let page = match pages.get_mut(&path.map(str::to_owned)) {
                    Some(page) => page,
                    None => pages.entry(path.map(str::to_owned)).or_default(),
                };
                page.0 += 1;
                if let Some(visitor) = visitor {
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

/// The sums of each value of `attribute` (`None`: the events credited to none): from the
/// rollups of its attributed dimension, or, under filters, from the segment's raw events.
fn breakdown_sums(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Filters,
    attribute: Attribute,
    plan: Plan,
) -> Result<HashMap<Option<String>, Sums, FastHash>, StoreError> {
    let segment = Segment::new(store, filters);
    let (store, plan) = narrowed(store, filters, &segment, plan);
    let by_value = sums_by_value(store, filter, Dimension::Attributed(attribute), None, plan)?;
    Ok(by_value
        .into_iter()
        .map(|(value, sums)| (Dimension::shown(&value).map(str::to_owned), sums))
        .collect())
}

/// The visitors and sessions of each value of `attribute`, from a raw pass over the events
/// joined with their sessions.
fn breakdown_people(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    filters: &Filters,
    attribute: Attribute,
) -> Result<HashMap<Option<String>, People, FastHash>, StoreError> {
    let mut groups: HashMap<Option<String>, People, FastHash> = HashMap::default();
    store.attributed_events(filter, filters, &mut |event| {
        let value = event.facts.attributed.get(attribute);
        match groups.get_mut(&value.map(str::to_owned)) {
            Some(people) => people.add(event),
            None => groups
                .entry(value.map(str::to_owned))
                .or_default()
                .add(event),
        }
    })?;
    Ok(groups)
}

/// The people of each value of an attributed dimension over a filter (the breakdown's people
/// columns), in one walk: rolled-up days from their day rows per value (see
/// [`value_days`](ReadBackend::value_days); a day the range holds whole as each value's
/// [`DayPeople`], a day it cuts per 15-minute bucket), the rest from raw events grouped by the
/// value they are credited to ([`ReadBackend::attributed_events`]), each value's in time
/// order. With [`Plan::Raw`], everything is raw. Values are as stored
/// ([`NO_VALUE`](domain::dimension::NO_VALUE) for none).
pub fn people_by_value(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    attribute: Attribute,
    plan: Plan,
) -> Result<HashMap<String, PeopleCounts, FastHash>, StoreError> {
    let (from, to) = (filter.from_micros, filter.to_micros);
    let stretches = if plan == Plan::Raw {
        vec![Stretch::Raw(from, to)]
    } else {
        stretches(from, to, &store.value_days(from.map(day_of), to)?)
    };
    let dimension = Dimension::Attributed(attribute);
    let shop = filter.shop_id.as_deref().unwrap_or(ALL_SHOPS);
    let mut tallies: HashMap<String, Tally, FastHash> = HashMap::default();
    for stretch in stretches {
        match stretch {
            Stretch::Raw(from_micros, to_micros) => {
                let raw = filter.with_range(from_micros, to_micros);
                store.attributed_events(&raw, &Filters::default(), &mut |event| {
                    if event.session.is_none() && event.visitor.is_none() {
                        return;
                    }
                    let value = dimension.value(&event.facts).unwrap_or(NO_VALUE);
                    tally_of(&mut tallies, value).add(&PersonEvent {
                        ts_micros: event.ts_micros.unwrap_or(PersonEvent::UNDATED),
                        shop: 0,
                        event_type: event.facts.event_type,
                        session: event.session.map(fingerprint),
                        visitor: event.visitor.map(fingerprint),
                    });
                })?;
            }
            Stretch::Day { day, from, to } => {
                let key = ValueDay {
                    shop,
                    day,
                    dimension,
                    value: None,
                };
                if from == day && to == day + DAY_MICROS {
                    store.value_day(key, DayPart::Whole, &mut |value, blob| {
                        tally_of(&mut tallies, value).add_day(&people_days::whole_of(blob, day)?);
                        Ok(())
                    })?;
                } else {
                    // A value appears only with a bucket in the range, as with raw events.
                    store.value_day(key, DayPart::Buckets, &mut |value, blob| {
                        people_days::buckets_of(blob, day, (from, to), |bucket| {
                            tally_of(&mut tallies, value).add_bucket(bucket);
                        })
                    })?;
                }
            }
        }
    }
    Ok(tallies
        .into_iter()
        .map(|(value, tally)| (value, tally.finish()))
        .collect())
}

/// The tally of `value`, new when it has none yet.
fn tally_of<'t>(tallies: &'t mut HashMap<String, Tally, FastHash>, value: &str) -> &'t mut Tally {
    if !tallies.contains_key(value) {
        tallies.insert(value.to_owned(), Tally::default());
    }
    tallies.get_mut(value).expect("inserted above")
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
    store.person_events(filter, None, &Filters::default(), &mut |event| {
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
