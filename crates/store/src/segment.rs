//! A store narrowed to a segment (docs/API.md, "Filters"): [`Segment`] answers every read of
//! [`ReadBackend`] as a store holding only the events that a request's [`Filters`] select
//! would, so every report (totals, products, time series, people, funnels) gives over it the
//! unfiltered answer over the matching sessions' events, by construction.
//!
//! It has no rollups: ask it with [`Plan::Raw`](super::Plan::Raw) (see [`narrowed`]); a
//! rollup read is refused rather than answered wrongly. The counts and amounts of a segment
//! that is one attribute's value are that value's rollup rows instead ([`one_value`]), and its
//! day rows of people that value's ([`narrowed_for_people`]); under other filters it has none.

use std::collections::HashMap;

use super::StoreError;
use super::backend::{AttributedEvent, DayPart, ReadBackend, RollupRows, ValueDay, VisitValueDay};
use super::filter::EventFilter;
use super::plan::Plan;
use domain::attribution::Filters;
use domain::dimension::{Dimension, Facts, NO_VALUE};
use domain::people::{FastHash, PersonEvent};
use domain::sessions::{FirstsInRange, earliest_firsts};
use domain::sums::Sums;

/// The events of `store` that `filters` select, as a store.
pub struct Segment<'a> {
    store: &'a dyn ReadBackend,
    filters: &'a Filters,
    /// Under a single attribute filter, its value: the segment's day rows of people are that
    /// value's ([`ReadBackend::value_day`]).
    keyed: Option<(Dimension, String)>,
}

impl<'a> Segment<'a> {
    pub fn new(store: &'a dyn ReadBackend, filters: &'a Filters) -> Segment<'a> {
        Segment {
            store,
            filters,
            keyed: one_value(filters),
        }
    }

    /// The segment's filters, for a read that was asked with `more` (none: a segment is
    /// narrowed once, with every filter of the request).
    fn narrowed_once(&self, more: &Filters) -> Result<&'a Filters, StoreError> {
        if more.is_empty() {
            Ok(self.filters)
        } else {
            Err(StoreError::Unsupported(
                "a segment is narrowed once: ask the store with all the filters instead",
            ))
        }
    }
}

/// The store and plan for the people passes ([`people`](super::people): visitors, sessions,
/// the session funnel, the session metrics, new and returning visitors): as [`narrowed`],
/// except that a segment keeps `plan`. Under a single attribute filter its day rows are that
/// value's ([`value_days`](ReadBackend::value_days)), the rest of its range its raw events;
/// under other filters it has no day rows, so its passes are raw either way, and the plan only
/// chooses the first times' lookup ([`ReadBackend::firsts_in_range`]) over the raw pass the
/// equivalence tests compare it with. Only the people passes may be asked with it: the
/// segment still has no rollups.
pub fn narrowed_for_people<'a>(
    store: &'a dyn ReadBackend,
    filters: &Filters,
    segment: &'a Segment<'a>,
    plan: Plan,
) -> (&'a dyn ReadBackend, Plan) {
    if filters.is_empty() {
        (store, plan)
    } else {
        (segment, plan)
    }
}

/// The store to ask and the plan to ask it with: `store` itself when there is no filter,
/// else the `segment` built over it, read raw.
pub fn narrowed<'a>(
    store: &'a dyn ReadBackend,
    filters: &Filters,
    segment: &'a Segment<'a>,
    plan: Plan,
) -> (&'a dyn ReadBackend, Plan) {
    if filters.is_empty() {
        (store, plan)
    } else {
        (segment, Plan::Raw)
    }
}

/// The one value of an attributed dimension whose events `filters` select, when they are a
/// single attribute filter: their counts and amounts are that value's rollup rows, where a
/// [`Segment`] would read raw rows.
pub fn one_value(filters: &Filters) -> Option<(Dimension, String)> {
    match (&filters.attributes[..], &filters.page) {
        ([(attribute, value)], None) => Some((
            Dimension::Attributed(*attribute),
            value.clone().unwrap_or_else(|| NO_VALUE.to_owned()),
        )),
        _ => None,
    }
}

const NO_ROLLUPS: &str = "a segment has no rollups; read it with Plan::Raw";

impl ReadBackend for Segment<'_> {
    fn rollup_rows(
        &self,
        _rows: RollupRows<'_>,
        _visit: &mut dyn FnMut(i64, &str, &Sums),
    ) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(NO_ROLLUPS))
    }

    /// Always credited: the segment's events come joined with their sessions.
    fn raw_facts(
        &self,
        filter: &EventFilter,
        _credited: bool,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError> {
        self.store
            .raw_facts(filter, true, self.narrowed_once(filters)?, visit)
    }

    fn unfolded_facts(
        &self,
        _filter: &EventFilter,
        _credited: bool,
        _visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(NO_ROLLUPS))
    }

    fn person_events(
        &self,
        filter: &EventFilter,
        product_id: Option<&str>,
        filters: &Filters,
        visit: &mut dyn FnMut(&PersonEvent),
    ) -> Result<Vec<String>, StoreError> {
        self.store
            .person_events(filter, product_id, self.narrowed_once(filters)?, visit)
    }

    fn time_span(&self, filter: &EventFilter) -> Result<Option<(i64, i64)>, StoreError> {
        let mut span: Option<(i64, i64)> = None;
        self.attributed_events(filter, &Filters::default(), &mut |event| {
            if let Some(ts) = event.ts_micros {
                span = Some(span.map_or((ts, ts), |(first, last)| (first.min(ts), last.max(ts))));
            }
        })?;
        Ok(span)
    }

    fn rollup_shop_ids(&self) -> Result<Vec<String>, StoreError> {
        Err(StoreError::Unsupported(NO_ROLLUPS))
    }

    fn raw_shop_ids(&self, filter: &EventFilter) -> Result<Vec<String>, StoreError> {
        let mut shops: Vec<String> = Vec::new();
        self.attributed_events(filter, &Filters::default(), &mut |event| {
            if !shops.iter().any(|shop| shop == event.shop_id) {
                shops.push(event.shop_id.to_owned());
            }
        })?;
        Ok(shops)
    }

    /// Those of the value of a single attribute filter; none under other filters: every
    /// people pass over such a segment reads raw rows.
    fn people_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        match self.keyed {
            Some(_) => self.store.value_days(from, to),
            None => Ok(Vec::new()),
        }
    }

    fn people_since(&self) -> Result<Option<i64>, StoreError> {
        self.store.people_since()
    }

    fn people_day(
        &self,
        shop: &str,
        day: i64,
        part: DayPart,
        visit: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some((dimension, value)) = &self.keyed else {
            return Ok(());
        };
        let key = ValueDay {
            shop,
            day,
            dimension: *dimension,
            value: Some(value),
        };
        self.store.value_day(key, part, &mut |_, blob| visit(blob))
    }

    /// None of its own: a segment is narrowed once.
    fn value_days(&self, _from: Option<i64>, _to: Option<i64>) -> Result<Vec<i64>, StoreError> {
        Ok(Vec::new())
    }

    fn value_day(
        &self,
        _key: ValueDay<'_>,
        _part: DayPart,
        _visit: VisitValueDay<'_>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn attributed_events(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(&AttributedEvent<'_>),
    ) -> Result<(), StoreError> {
        self.store
            .attributed_events(filter, self.narrowed_once(filters)?, visit)
    }

    fn page_views(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<&str>, Option<&str>),
    ) -> Result<(), StoreError> {
        self.store
            .page_views(filter, self.narrowed_once(filters)?, visit)
    }

    /// The first times among the segment's own events: over a store holding only them, a
    /// visitor's first event is its first matching one.
    fn visitor_firsts(
        &self,
        shop: Option<&str>,
        visit: &mut dyn FnMut(&str, i64, Option<i64>),
    ) -> Result<(), StoreError> {
        let everything = EventFilter {
            shop_id: shop.map(str::to_owned),
            from_micros: None,
            to_micros: None,
        };
        let mut firsts: HashMap<(String, String), (i64, Option<i64>), FastHash> =
            HashMap::default();
        self.attributed_events(&everything, &Filters::default(), &mut |event| {
            let (Some(visitor), Some(ts)) = (event.visitor, event.ts_micros) else {
                return;
            };
            let purchase =
                (event.facts.event_type == domain::event::EventType::Purchase).then_some(ts);
            let first = firsts
                .entry((event.shop_id.to_owned(), visitor.to_owned()))
                .or_insert((ts, purchase));
            *first = earliest_firsts(*first, (ts, purchase));
        })?;
        for ((_, visitor), (first, purchase)) in firsts {
            visit(&visitor, first, purchase);
        }
        Ok(())
    }

    fn bot_events(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        self.store.bot_events(filter)
    }

    /// The store's spans of the whole sessions (a segment has no day rows that would ask).
    fn session_spans(
        &self,
        sessions: &[u64],
        visit: &mut dyn FnMut(u64, (i64, i64)),
    ) -> Result<(), StoreError> {
        self.store.session_spans(sessions, visit)
    }

    /// The store's aggregate over the segment's events: over a store holding only them, a
    /// visitor's first event is its first selected one.
    fn firsts_in_range(
        &self,
        shop: Option<&str>,
        range: (Option<i64>, Option<i64>),
        filters: &Filters,
    ) -> Result<FirstsInRange, StoreError> {
        self.store
            .firsts_in_range(shop, range, self.narrowed_once(filters)?)
    }
}
