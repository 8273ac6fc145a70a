//! The readers: the sums of a question, for the spans the [planner](super::plan) cut its
//! range into. Rollup spans read rows of the rollups, raw spans file raw rows under the same
//! [`Dimension`] values with the same [`Sums::observe`], so both give one answer.

use std::collections::{BTreeMap, HashMap};

use super::StoreError;
use super::backend::{ReadBackend, RollupRows};
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, BUCKET_MICROS, Grain, UNDATED_BUCKET};
use super::plan::{Plan, SUM_GRAINS, Sign, Span, spans, spans_for_counts};
use domain::attribution::Filters;
use domain::dimension::{Dimension, Facts};
use domain::people::FastHash;
use domain::sums::Sums;

/// Sums per value, while a question is answered.
pub type SumsByValue = HashMap<String, Sums, FastHash>;

/// Hands `visit` the sums over `filter` of `dimension` (only the value `only` when given), in
/// pieces, each to be added or (when `spans` take parts off again) subtracted: a piece's time
/// is its bucket's start for a rollup row, the event's time for a raw row (`None` when
/// undated), including the unfolded rows the rollups do not hold yet.
fn for_each_piece(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    (dimension, only): (Dimension, Option<&str>),
    spans: &[(Span, Sign)],
    mut visit: impl FnMut(Option<i64>, &str, &Sums, Sign),
) -> Result<(), StoreError> {
    let shop = filter.shop_id.as_deref().unwrap_or(ALL_SHOPS);
    let credited = matches!(dimension, Dimension::Attributed(_));
    for &(span, sign) in spans {
        match span {
            Span::Rollup { grain, from, to } => {
                let rows = RollupRows {
                    shop,
                    dimension,
                    grain,
                    from,
                    to,
                    only,
                };
                store.rollup_rows(rows, &mut |bucket, value, sums| {
                    visit(Some(bucket), value, sums, sign);
                })?;
            }
            Span::Raw { from, to } => {
                store.raw_facts(
                    &filter.with_range(from, to),
                    credited,
                    &Filters::default(),
                    &mut |ts, facts| {
                        visit_fact(ts, facts, (dimension, only), &mut |ts, value, sums| {
                            visit(ts, value, sums, sign);
                        });
                    },
                )?;
            }
        }
    }
    // The rollups hold the rows up to their watermark; each of the few past it counts as
    // often as the rollup spans it falls in say (a day added, a bucket of it taken off: not at
    // all). The raw spans read them already.
    if spans
        .iter()
        .any(|(span, _)| matches!(span, Span::Rollup { .. }))
    {
        store.unfolded_facts(filter, credited, &mut |ts, facts| {
            let times: i32 = spans
                .iter()
                .filter(|(span, _)| span.holds_in_rollups(ts))
                .map(|(_, sign)| match sign {
                    Sign::Add => 1,
                    Sign::Subtract => -1,
                })
                .sum();
            if times > 0 {
                visit_fact(ts, facts, (dimension, only), &mut |ts, value, sums| {
                    visit(ts, value, sums, Sign::Add);
                });
            }
        })?;
    }
    Ok(())
}

/// Every span of a range added: what [`spans`] plans, for questions that read maxima or
/// minima too.
fn added(filter: &EventFilter, plan: Plan, grains: &[Grain]) -> Vec<(Span, Sign)> {
    spans(filter.from_micros, filter.to_micros, plan, grains)
        .into_iter()
        .map(|span| (span, Sign::Add))
        .collect()
}

/// Hands `visit` the sums of one raw event, if `dimension` files it (under `only`, when
/// given).
fn visit_fact(
    ts: Option<i64>,
    facts: &Facts<'_>,
    (dimension, only): (Dimension, Option<&str>),
    visit: &mut dyn FnMut(Option<i64>, &str, &Sums),
) {
    match dimension.value(facts) {
        Some(value) if only.is_none_or(|only| only == value) => {
            visit(
                ts,
                value,
                &Sums::of(facts.event_type, facts.purchase_amount()),
            );
        }
        _ => {}
    }
}

/// The counts and amounts over a filter, per value of `dimension` (only `only` when given;
/// values without events are left out). A day the range holds mostly is read whole, minus the
/// buckets of it outside the range ([`spans_for_counts`]), so these sums carry no maximum or
/// minimum (both `None`); [`totals`] has them.
pub fn sums_by_value(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    dimension: Dimension,
    only: Option<&str>,
    plan: Plan,
) -> Result<SumsByValue, StoreError> {
    let mut sums = SumsByValue::default();
    let spans = spans_for_counts(filter.from_micros, filter.to_micros, plan);
    for_each_piece(
        store,
        filter,
        (dimension, only),
        &spans,
        |_, value, piece, sign| {
            let total = match sums.get_mut(value) {
                Some(total) => total,
                None => sums.entry(value.to_owned()).or_default(),
            };
            match sign {
                Sign::Add => total.add(piece),
                Sign::Subtract => total.subtract_counts(piece),
            }
        },
    )?;
    // A value of a part taken off may have nothing left in the range.
    sums.retain(|_, total| !total.is_nothing());
    for total in sums.values_mut() {
        (total.max_amount, total.min_amount) = (None, None);
    }
    Ok(sums)
}

/// The counts and amounts (no maximum or minimum) of the events one value of a dimension
/// files, over a filter.
pub fn value_totals(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    (dimension, value): (Dimension, &str),
    plan: Plan,
) -> Result<Sums, StoreError> {
    let mut by_value = sums_by_value(store, filter, dimension, Some(value), plan)?;
    Ok(by_value.remove(value).unwrap_or_default())
}

/// The sums of every event over a filter.
pub fn totals(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<Sums, StoreError> {
    let mut totals = Sums::default();
    for_each_piece(
        store,
        filter,
        (Dimension::Total, None),
        &added(filter, plan, &SUM_GRAINS),
        |_, _, piece, _| totals.add(piece),
    )?;
    Ok(totals)
}

/// The sums of every event per time slot of `grain_micros` (slot start → sums), only slots
/// with events; undated rows belong to no slot. 15-minute rollup rows answer when the grain
/// is a whole number of them (they are keyed by their own start, which lies in its slot);
/// any other grain (a minute) is read raw.
pub fn sums_by_slot(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    grain_micros: i64,
    plan: Plan,
) -> Result<BTreeMap<i64, Sums>, StoreError> {
    value_sums_by_slot(store, filter, grain_micros, (Dimension::Total, ""), plan)
}

/// [`sums_by_slot`] of the events one value of a dimension files (a segment that is one value
/// of an attributed dimension: see [`one_value`](super::segment::one_value)).
pub fn value_sums_by_slot(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    grain_micros: i64,
    (dimension, value): (Dimension, &str),
    plan: Plan,
) -> Result<BTreeMap<i64, Sums>, StoreError> {
    let grain = grain_micros.max(1);
    let grains: &[Grain] = if grain % BUCKET_MICROS == 0 {
        &[Grain::Quarter]
    } else {
        &[]
    };
    let filter = filter.with_range(
        Some(filter.from_micros.unwrap_or(UNDATED_BUCKET + 1)),
        filter.to_micros,
    );
    let mut slots: BTreeMap<i64, Sums> = BTreeMap::new();
    for_each_piece(
        store,
        &filter,
        (dimension, Some(value)),
        &added(&filter, plan, grains),
        |time, _, piece, _| {
            if let Some(time) = time {
                let slot = time - time.rem_euclid(grain);
                slots.entry(slot).or_default().add(piece);
            }
        },
    )?;
    Ok(slots)
}

/// One shop's activity in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopActivity {
    pub shop_id: String,
    pub events: u64,
    /// Event times in microseconds UTC; `None` when the shop has only undated rows.
    pub first_seen_micros: Option<i64>,
    pub last_seen_micros: Option<i64>,
}

/// Every shop with events in the range (or the one shop of the filter), by shop id.
pub fn shops(
    store: &dyn ReadBackend,
    filter: &EventFilter,
    plan: Plan,
) -> Result<Vec<ShopActivity>, StoreError> {
    let shop_ids: Vec<String> = match (&filter.shop_id, plan) {
        (Some(shop), _) => vec![shop.clone()],
        (None, Plan::Raw) => store.raw_shop_ids(filter)?,
        (None, Plan::Rollup) => store.rollup_shop_ids()?,
    };
    let mut shops = Vec::new();
    for shop_id in shop_ids {
        let shop_filter = EventFilter {
            shop_id: Some(shop_id.clone()),
            ..filter.clone()
        };
        let events = totals(store, &shop_filter, plan)?.events();
        if events == 0 {
            continue;
        }
        let span = store.time_span(&shop_filter)?;
        shops.push(ShopActivity {
            shop_id,
            events: u64::try_from(events).unwrap_or(0),
            first_seen_micros: span.map(|(first, _)| first),
            last_seen_micros: span.map(|(_, last)| last),
        });
    }
    shops.sort_by(|a, b| a.shop_id.cmp(&b.shop_id));
    Ok(shops)
}
