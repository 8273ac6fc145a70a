//! The people pass: visitors, sessions, cart abandonment and session funnels over a range,
//! read in time order. Rolled-up days (see [`days`](super::days)) are read from their day
//! rows: a day the range holds whole as its [`DayPeople`] summary, a day it cuts per
//! 15-minute bucket (distinct visitors and what each session did); the rest is read from the
//! raw rows. The same pass gives the session metrics and the buyers; who is new or a returning
//! customer comes from the visitors' first times on the store's indexes ([`audience`]). The
//! rules themselves are [`domain::people`]'s and [`domain::sessions`]'.

use super::StoreError;
use super::attributed;
use super::backend::ReadBackend;
use super::filter::EventFilter;
use super::grain::{BUCKET_MICROS, DAY_MICROS, day_of};
use super::people_days;
use super::plan::{Plan, Stretch, stretches};
use domain::attribution::Filters;
use domain::distinct::Distinct;
use domain::people::{BucketPeople, DayPeople, PeopleCounts, PersonEvent, Tally};
use domain::sessions::{SessionCounts, VisitorCounts};

/// What a pass sees next, in time order.
enum Seen<'a> {
    Event(&'a PersonEvent),
    Bucket(&'a BucketPeople),
    /// A whole day, starting at the given time.
    Day(i64, &'a DayPeople),
}

impl Seen<'_> {
    fn time(&self) -> i64 {
        match self {
            Seen::Event(event) => event.ts_micros,
            Seen::Bucket(bucket) => bucket.start,
            Seen::Day(start, _) => *start,
        }
    }
}

/// Walks a filter in time order: rolled-up days' whole buckets from their day rows, the rest
/// from raw rows. With `product_id` or [`Plan::Raw`], everything is raw (day rows are not
/// kept per product). With `whole_days`, a rolled-up day wholly inside the range comes as its
/// [`DayPeople`].
fn walk(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    product_id: Option<&str>,
    (plan, whole_days): (Plan, bool),
    mut visit: impl FnMut(Seen<'_>),
) -> Result<(), StoreError> {
    let (from, to) = (filter.from_micros, filter.to_micros);
    let stretches = if plan == Plan::Raw || product_id.is_some() {
        vec![Stretch::Raw(from, to)]
    } else {
        let rolled_up = store.people_days(from.map(day_of), to)?;
        stretches(from, to, &rolled_up)
    };
    let shop = filter.shop_id.as_deref();
    for stretch in stretches {
        match stretch {
            Stretch::Raw(from_micros, to_micros) => {
                let raw = filter.with_range(from_micros, to_micros);
                store.person_events(&raw, product_id, &Filters::default(), &mut |event| {
                    visit(Seen::Event(event));
                })?;
            }
            Stretch::Day { day, from, to }
                if whole_days && from == day && to == day + DAY_MICROS =>
            {
                if let Some(people) = people_days::read_day(store, shop, day)? {
                    visit(Seen::Day(day, &people));
                }
            }
            Stretch::Day { day, from, to } => {
                people_days::read(store, shop, day, (from, to), |bucket| {
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
    store: &dyn ReadBackend,
    filter: &EventFilter,
    product_id: Option<&str>,
    plan: Plan,
) -> Result<PeopleCounts, StoreError> {
    let mut tally = Tally::default();
    walk(store, filter, product_id, (plan, true), |seen| match seen {
        Seen::Event(event) => tally.add(event),
        Seen::Bucket(bucket) => tally.add_bucket(bucket),
        Seen::Day(_, day) => tally.add_day(day),
    })?;
    Ok(tally.finish())
}

/// The people of a filter ([`people`]), its session metrics, and who among its visitors is new
/// or a returning customer: one people pass, and the visitors whose first event or first
/// purchase falls in the range counted on the store's indexes
/// ([`FirstsInRange`](domain::sessions::FirstsInRange) says why that gives the returning
/// customers). With [`Plan::Raw`], or for a range that starts before the retention horizon
/// (whose first purchases may have lost their events, so the subtraction no longer holds),
/// the session metrics and visitors come from the raw pass ([`attributed::audience`]), which
/// the equivalence tests compare this with.
pub fn audience(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<(PeopleCounts, SessionCounts, VisitorCounts), StoreError> {
    let people = people(store, filter, None, plan)?;
    let since = store.people_since()?;
    let cut_by_retention = filter
        .from_micros
        .is_some_and(|from| since.is_some_and(|since| from < since));
    if plan == Plan::Raw || cut_by_retention {
        let (sessions, visitors) = attributed::audience(store, filter)?;
        return Ok((people, sessions, visitors));
    }
    let firsts = store.firsts_in_range(
        filter.shop_id.as_deref(),
        (filter.from_micros, filter.to_micros),
        &Filters::default(),
    )?;
    let visitors = firsts.visitor_counts(people.buyers, filter.from_micros);
    let sessions = people.session_metrics;
    Ok((people, sessions, visitors))
}

/// Distinct visitors per slot, for slots `[starts[i], starts[i + 1])`; the last start is the
/// end of the last slot, so the answer has `starts.len() - 1` counts. Day rows answer only
/// when every slot is whole 15-minute buckets (not for minutes).
pub fn visitors_by_slot(
    store: &dyn ReadBackend,
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
    let mut seen = Distinct::default();
    walk(store, &range, None, (plan, whole_days), |next| {
        let time = next.time();
        let moved = slot;
        while slot + 1 < starts.len() && starts[slot + 1] <= time {
            slot += 1;
        }
        if slot != moved
            && let Some(count) = counts.get_mut(moved)
        {
            *count = std::mem::take(&mut seen).count();
        }
        match next {
            Seen::Event(event) => event.visitor.into_iter().for_each(|v| seen.insert(v)),
            Seen::Bucket(bucket) => bucket.visitors.iter().for_each(|&v| seen.insert(v)),
            Seen::Day(_, day) => seen.merge(&day.visitors),
        }
    })?;
    if let Some(count) = counts.get_mut(slot) {
        *count = seen.count();
    }
    Ok(counts)
}
