//! The people pass: visitors, sessions, cart abandonment and session funnels over a range,
//! read in time order. Rolled-up days (see [`days`](super::days)) are read from their day
//! rows, which hold for the whole day and per 15-minute bucket the distinct visitors and what
//! each session did; the rest is read from the raw rows. The rules themselves are [`domain::people`]'s.

use std::collections::HashSet;

use super::StoreError;
use super::backend::ReadBackend;
use super::filter::EventFilter;
use super::grain::{BUCKET_MICROS, DAY_MICROS, day_of};
use super::people_days;
use super::plan::{Plan, Stretch, stretches};
use domain::people::{BucketPeople, FastHash, PeopleCounts, PersonEvent, Tally};

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
                let raw = EventFilter {
                    shop_id: filter.shop_id.clone(),
                    from_micros,
                    to_micros,
                };
                store.person_events(&raw, product_id, &mut |event| {
                    visit(Seen::Event(event));
                })?;
            }
            Stretch::Day { day, from, to } => {
                people_days::read(store, shop, day, (from, to), whole_days, |bucket| {
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
    })?;
    Ok(tally.finish())
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
    let mut seen: HashSet<u64, FastHash> = HashSet::default();
    walk(store, &range, None, (plan, whole_days), |next| {
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
