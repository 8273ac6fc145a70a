//! The backend boundary: the few reads a store must answer for the planner's readers
//! ([`read`](super::read)) and the people pass ([`people`](super::people)), which are written
//! once over this trait. SQLite answers them today ([`sqlite_reads`](super::sqlite_reads));
//! a server database answers the same reads with its own SQL, and the planner, the metric
//! rules and the routes stay as they are.

use super::StoreError;
use super::filter::EventFilter;
use super::grain::Grain;
use domain::attribution::Filters;
use domain::dimension::{Dimension, Facts};
use domain::people::PersonEvent;
use domain::sessions::FirstsInRange;
use domain::sums::Sums;

/// Which rollup rows to read: one shop (or [`ALL_SHOPS`](super::grain::ALL_SHOPS)), one
/// dimension and grain, buckets starting in `[from, to)` (`None` is open; an open start never
/// includes undated rows), and only one value when given.
#[derive(Debug, Clone, Copy)]
pub struct RollupRows<'a> {
    pub shop: &'a str,
    pub dimension: Dimension,
    pub grain: Grain,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub only: Option<&'a str>,
}

/// One raw event, its facts holding the attribution it is credited to: its session's
/// (docs/API.md, "Where buyers come from"), or its own when it has no session.
#[derive(Debug, Clone, Copy)]
pub struct AttributedEvent<'a> {
    pub ts_micros: Option<i64>,
    pub shop_id: &'a str,
    pub facts: Facts<'a>,
    pub session: Option<&'a str>,
    pub visitor: Option<&'a str>,
    pub path: Option<&'a str>,
}

/// The two blobs of a day row of people ([`people_days`](super::people_days)): a range holding
/// the whole day reads only the first, small one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayPart {
    Whole,
    Buckets,
}

impl DayPart {
    /// The column of a day row that holds this part.
    pub fn column(self) -> &'static str {
        match self {
            DayPart::Whole => "whole",
            DayPart::Buckets => "buckets",
        }
    }
}

/// Which day rows of people per attributed value to read: those of `shop` (or
/// [`ALL_SHOPS`](super::grain::ALL_SHOPS)) for `day` under `dimension`, of one value when
/// given, else of every value.
#[derive(Debug, Clone, Copy)]
pub struct ValueDay<'a> {
    pub shop: &'a str,
    pub day: i64,
    pub dimension: Dimension,
    pub value: Option<&'a str>,
}

/// What [`ReadBackend::value_day`] hands each value and its blob to.
pub type VisitValueDay<'a> = &'a mut dyn FnMut(&str, &[u8]) -> Result<(), StoreError>;

/// The reads of one consistent snapshot of a store.
pub trait ReadBackend {
    /// Hands `visit` each rollup row asked for: its bucket start, its value and its sums.
    fn rollup_rows(
        &self,
        rows: RollupRows<'_>,
        visit: &mut dyn FnMut(i64, &str, &Sums),
    ) -> Result<(), StoreError>;

    /// Hands `visit` the time (`None` when undated) and the facts of every raw event of a
    /// filter that `filters` select, in any order; with `credited` or filters, each with what
    /// it is credited to ([`Facts::attributed`], a join with the sessions), else with that left
    /// empty.
    fn raw_facts(
        &self,
        filter: &EventFilter,
        credited: bool,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError>;

    /// The same for the raw events of a filter that the rollups do not hold yet: those past
    /// the watermark of [`rollups`](super::rollups), a few thousand at most.
    fn unfolded_facts(
        &self,
        filter: &EventFilter,
        credited: bool,
        visit: &mut dyn FnMut(Option<i64>, &Facts<'_>),
    ) -> Result<(), StoreError>;

    /// Hands `visit` the raw events of a filter that `filters` select and that have a session
    /// or a visitor (only `product_id`'s when given) in time order, ties in arrival order;
    /// returns the shop ids that [`PersonEvent::shop`] indexes.
    fn person_events(
        &self,
        filter: &EventFilter,
        product_id: Option<&str>,
        filters: &Filters,
        visit: &mut dyn FnMut(&PersonEvent),
    ) -> Result<Vec<String>, StoreError>;

    /// The first and last event time matching a filter.
    fn time_span(&self, filter: &EventFilter) -> Result<Option<(i64, i64)>, StoreError>;

    /// Every shop with rollup rows or unfolded rows, by shop id (the all-shops id left out).
    fn rollup_shop_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Every shop with raw events matching a filter, in any order.
    fn raw_shop_ids(&self, filter: &EventFilter) -> Result<Vec<String>, StoreError>;

    /// The days starting in `[from, to)` (`None` is open) whose people are rolled up,
    /// ascending.
    fn people_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError>;

    /// Where people (visitors, sessions) are known from, when retention has deleted older
    /// raw events (`None`: from the first event on).
    fn people_since(&self) -> Result<Option<i64>, StoreError>;

    /// Hands `visit` one part of the people blobs of `shop` for the rolled-up `day`, if it
    /// has a row.
    fn people_day(
        &self,
        shop: &str,
        day: i64,
        part: DayPart,
        visit: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The days starting in `[from, to)` (`None` is open) whose people per attributed value
    /// are rolled up and current (see [`days`](super::days)), ascending. A store that keeps
    /// no such rows answers none, and every pass by value reads raw rows.
    fn value_days(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<i64>, StoreError>;

    /// Hands `visit` each value of `dimension` (only `value` when given) with one part of its
    /// people blobs of `shop` for a day of [`value_days`](Self::value_days); a value without
    /// a row had no people credited to it that day.
    fn value_day(
        &self,
        key: ValueDay<'_>,
        part: DayPart,
        visit: VisitValueDay<'_>,
    ) -> Result<(), StoreError>;

    /// Hands `visit` every raw event of a filter that `filters` select (the events of the
    /// sessions whose attribution matches, and the events without a session whose own fields
    /// do), in time order, ties in arrival order.
    fn attributed_events(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(&AttributedEvent<'_>),
    ) -> Result<(), StoreError>;

    /// Hands `visit` the path and the visitor of every page view of a filter that `filters`
    /// select, in any order: a page breakdown's rows need no attribution unless filtered.
    fn page_views(
        &self,
        filter: &EventFilter,
        filters: &Filters,
        visit: &mut dyn FnMut(Option<&str>, Option<&str>),
    ) -> Result<(), StoreError>;

    /// Hands `visit` each visitor of `shop` (all shops: each visitor of each shop) with the
    /// time of its first stored event and of its first stored purchase.
    fn visitor_firsts(
        &self,
        shop: Option<&str>,
        visit: &mut dyn FnMut(&str, i64, Option<i64>),
    ) -> Result<(), StoreError>;

    /// How many visitors of `shop` (all shops: one id across them, at its earliest times) have
    /// their first stored event, and how many their first stored purchase, in `[from, to)`
    /// (`range`; `None`: open), among the events `filters` select. Unfiltered, what
    /// [`visitor_firsts`](Self::visitor_firsts) folded would say, counted by the store on its
    /// indexes; filtered, from the selected events of the range and those of its visitors
    /// before it (a segment's visitors have no first times of their own stored).
    fn firsts_in_range(
        &self,
        shop: Option<&str>,
        range: (Option<i64>, Option<i64>),
        filters: &Filters,
    ) -> Result<FirstsInRange, StoreError>;

    /// The bots' events of a filter's shop and range (stored, counted nowhere else).
    fn bot_events(&self, filter: &EventFilter) -> Result<u64, StoreError>;

    /// Hands `visit` the first and last UTC day with events of each session of `sessions`
    /// (fingerprints) that [`session_spans`](super::session_spans) recorded; the others are
    /// not visited. A day's roll-up asks once for all its sessions (on PostgreSQL, one round
    /// trip per [`SPAN_CHUNK`](super::session_spans::SPAN_CHUNK) sessions, not one each).
    fn session_spans(
        &self,
        sessions: &[u64],
        visit: &mut dyn FnMut(u64, (i64, i64)),
    ) -> Result<(), StoreError>;
}
