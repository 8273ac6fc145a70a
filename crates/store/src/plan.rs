//! The range planner: which grain answers which part of a time range.
//!
//! Sums: a range `[from, to)` (either end may be open) is covered by the coarsest whole buckets
//! that fit inside it — months, then weeks, then days, then 15-minute buckets — and the ragged
//! edges that no bucket fits are read from the raw rows. Counts may also take parts off again
//! ([`spans_for_counts`]): a month in a zone whose midnight is not UTC's holds no UTC month,
//! but is one month row with a few buckets added and taken off. The planner knows nothing of
//! what is summed or by which dimension: readers fetch the same spans for every question.
//!
//! People: a pass reads, in time order, the whole 15-minute buckets of days whose people are
//! rolled up from their day rows, and everything else from raw rows ([`stretches`]).

use super::grain::{BUCKET_MICROS, DAY_MICROS, Grain};

/// How a question is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Whole buckets from the rollups, edges from the raw rows.
    Rollup,
    /// Every row from the raw table: what the rollups are tested and measured against.
    Raw,
}

/// A part of a range and where it is read from. `None` bounds are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The rollup rows of `grain` whose bucket starts in `[from, to)`.
    Rollup {
        grain: Grain,
        from: Option<i64>,
        to: Option<i64>,
    },
    /// The raw rows whose time is in `[from, to)`. Fully open, it includes undated rows.
    Raw { from: Option<i64>, to: Option<i64> },
}

impl Span {
    /// Whether an event at `ts` (`None`: undated) is counted by this span when it is a
    /// rollup span: "all time" holds every event, other grains the dated ones in `[from, to)`.
    pub fn holds_in_rollups(&self, ts: Option<i64>) -> bool {
        match (*self, ts) {
            (Span::Raw { .. }, _) => false,
            (
                Span::Rollup {
                    grain: Grain::All, ..
                },
                _,
            ) => true,
            (Span::Rollup { .. }, None) => false,
            (Span::Rollup { from, to, .. }, Some(ts)) => {
                from.is_none_or(|from| from <= ts) && to.is_none_or(|to| ts < to)
            }
        }
    }
}

/// The spans that answer `[from, to)`, in time order, using the given grains (coarsest
/// first; the last resort is always raw rows). A fully open range is one "all time" span
/// when that grain is allowed.
pub fn spans(from: Option<i64>, to: Option<i64>, plan: Plan, grains: &[Grain]) -> Vec<Span> {
    let mut out = Vec::new();
    match plan {
        Plan::Raw => out.push(Span::Raw { from, to }),
        Plan::Rollup if from.is_none() && to.is_none() && grains.contains(&Grain::All) => {
            out.push(Span::Rollup {
                grain: Grain::All,
                from: None,
                to: None,
            });
        }
        Plan::Rollup => {
            let grains: Vec<Grain> = grains
                .iter()
                .copied()
                .filter(|g| *g != Grain::All)
                .collect();
            cover(from, to, &grains, &mut out);
        }
    }
    out
}

/// Every grain, for sums of a range.
pub const SUM_GRAINS: [Grain; 5] = [
    Grain::All,
    Grain::Month,
    Grain::Week,
    Grain::Day,
    Grain::Quarter,
];

/// Whether a span's sums are added to the answer or taken off it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Add,
    Subtract,
}

/// The spans of [`spans`] over every grain, for questions that read counts and amounts only
/// (no maximum or minimum, which cannot be taken off), where parts taken off again make the
/// plan cheaper:
///
/// - a UTC day that the range holds mostly in 15-minute buckets is read as its day row minus
///   its buckets outside the range ([`days_minus_buckets`]);
/// - a UTC month at either end of the range is read as its month row minus what of it the
///   range does not hold, when that reads fewer rows ([`months_minus_rest`]).
///
/// A month in Berlin runs from 22:00 UTC on the last day of the month before to 23:00 UTC on
/// its last day: three weeks, eleven days and 96 buckets of rows per product, or 8 buckets,
/// one month row and 4 buckets taken off.
pub fn spans_for_counts(from: Option<i64>, to: Option<i64>, plan: Plan) -> Vec<(Span, Sign)> {
    let plain = days_minus_buckets(from, to, plan);
    if plan == Plan::Raw {
        return plain;
    }
    // A month row stands for whole buckets only, never for a raw edge.
    let start = from.map(|f| Grain::Quarter.ceil(f));
    let end = to.map(|t| Grain::Quarter.floor(t));
    if is_empty(start, end) {
        return plain;
    }
    // The months that the range holds in part at its ends.
    let first = start
        .filter(|&s| Grain::Month.floor(s) != s)
        .map(|s| Grain::Month.floor(s));
    let last = end
        .filter(|&e| Grain::Month.floor(e) != e)
        .map(|e| Grain::Month.floor(e));
    let candidates = [
        vec![first],
        vec![last],
        if first == last {
            vec![]
        } else {
            vec![first, last]
        },
    ];
    let mut best = (cost(&plain), plain);
    for months in candidates {
        let months: Vec<i64> = months.into_iter().flatten().collect();
        if months.is_empty() {
            continue;
        }
        let candidate = months_minus_rest(from, to, (start, end), &months);
        let candidate_cost = cost(&candidate);
        if candidate_cost < best.0 {
            best = (candidate_cost, candidate);
        }
    }
    best.1
}

/// The plan of `[from, to)` that reads each UTC month of `months` (ascending, each holding part
/// of the whole buckets `[start, end)`) as its month row minus the parts of it outside the
/// range, and everything else as [`days_minus_buckets`] does.
fn months_minus_rest(
    from: Option<i64>,
    to: Option<i64>,
    (start, end): (Option<i64>, Option<i64>),
    months: &[i64],
) -> Vec<(Span, Sign)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for &month in months {
        let next = Grain::Month.next(month);
        let held_from = start.map_or(month, |s| s.max(month));
        let held_to = end.map_or(next, |e| e.min(next));
        out.extend(days_minus_buckets(cursor, Some(held_from), Plan::Rollup));
        out.push((
            Span::Rollup {
                grain: Grain::Month,
                from: Some(month),
                to: Some(next),
            },
            Sign::Add,
        ));
        for (from, to) in [(month, held_from), (held_to, next)] {
            let rest = days_minus_buckets(Some(from), Some(to), Plan::Rollup);
            out.extend(rest.into_iter().map(|(span, sign)| (span, sign.opposite())));
        }
        cursor = Some(held_to);
    }
    out.extend(days_minus_buckets(cursor, to, Plan::Rollup));
    out
}

/// About how many rows per value a plan reads: a bucket of any grain is one row. An open span
/// counts as [`MANY`]; the plans compared have one on the same side.
fn cost(plan: &[(Span, Sign)]) -> i64 {
    plan.iter()
        .map(|(span, _)| match *span {
            Span::Raw { .. } => 0,
            Span::Rollup {
                grain: Grain::All, ..
            } => 1,
            Span::Rollup {
                grain,
                from: Some(from),
                to: Some(to),
            } => buckets(grain, from, to),
            Span::Rollup { .. } => MANY,
        })
        .fold(0, i64::saturating_add)
}

/// More rows than any bounded plan compared reads.
const MANY: i64 = 1 << 40;

/// How many buckets of `grain` start in `[from, to)`, both bucket starts (at most [`MANY`]).
fn buckets(grain: Grain, from: i64, to: i64) -> i64 {
    if grain != Grain::Month {
        // A fixed length.
        let length = grain.next(from).saturating_sub(from).max(1);
        return to.saturating_sub(from) / length;
    }
    let mut count = 0;
    let mut bucket = from;
    while bucket < to && count < MANY {
        count += 1;
        bucket = Grain::Month.next(bucket);
    }
    count
}

impl Sign {
    fn opposite(self) -> Sign {
        match self {
            Sign::Add => Sign::Subtract,
            Sign::Subtract => Sign::Add,
        }
    }
}

/// The spans of [`spans`] over every grain, with each UTC day that the range holds mostly in
/// 15-minute buckets read as its day row minus its buckets outside the range. A month in
/// Berlin ends 23 hours into a UTC day: 92 buckets of rows per product, or one day row and 4
/// buckets taken off.
fn days_minus_buckets(from: Option<i64>, to: Option<i64>, plan: Plan) -> Vec<(Span, Sign)> {
    let mut out = Vec::new();
    if is_empty(from, to) {
        return out;
    }
    // The buckets each UTC day holds, from the 15-minute spans.
    let mut days: Vec<(i64, Vec<(i64, i64)>)> = Vec::new();
    for span in spans(from, to, plan, &SUM_GRAINS) {
        match span {
            Span::Rollup {
                grain: Grain::Quarter,
                from: Some(start),
                to: Some(end),
            } => {
                let mut cursor = start;
                while cursor < end {
                    let day = Grain::Day.floor(cursor);
                    let stop = end.min(day + DAY_MICROS);
                    match days.last_mut() {
                        Some((last, pieces)) if *last == day => pieces.push((cursor, stop)),
                        _ => days.push((day, vec![(cursor, stop)])),
                    }
                    cursor = stop;
                }
            }
            other => out.push((other, Sign::Add)),
        }
    }
    let quarter = |from: i64, to: i64| Span::Rollup {
        grain: Grain::Quarter,
        from: Some(from),
        to: Some(to),
    };
    for (day, pieces) in days {
        let held: i64 = pieces.iter().map(|(from, to)| to - from).sum();
        if held * 2 <= DAY_MICROS {
            out.extend(pieces.into_iter().map(|(f, t)| (quarter(f, t), Sign::Add)));
            continue;
        }
        let whole_day = Span::Rollup {
            grain: Grain::Day,
            from: Some(day),
            to: Some(day + DAY_MICROS),
        };
        out.push((whole_day, Sign::Add));
        let mut cursor = day;
        for (from, to) in pieces
            .into_iter()
            .chain([(day + DAY_MICROS, day + DAY_MICROS)])
        {
            if cursor < from {
                out.push((quarter(cursor, from), Sign::Subtract));
            }
            cursor = to;
        }
    }
    out
}

fn cover(from: Option<i64>, to: Option<i64>, grains: &[Grain], out: &mut Vec<Span>) {
    if is_empty(from, to) {
        return;
    }
    let Some((&grain, finer)) = grains.split_first() else {
        out.push(Span::Raw { from, to });
        return;
    };
    let start = from.map(|f| grain.ceil(f));
    let end = to.map(|t| grain.floor(t));
    if is_empty(start, end) {
        cover(from, to, finer, out);
        return;
    }
    // An open end stays open in the span: there is nothing beyond it to cover.
    if from.is_some() {
        cover(from, start, finer, out);
    }
    out.push(Span::Rollup {
        grain,
        from: start,
        to: end,
    });
    if to.is_some() {
        cover(end, to, finer, out);
    }
}

fn is_empty(from: Option<i64>, to: Option<i64>) -> bool {
    matches!((from, to), (Some(f), Some(t)) if f >= t)
}

/// A stretch of time a people pass reads, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stretch {
    /// Raw rows with `ts_micros` in `[from, to)`; `None` is open.
    Raw(Option<i64>, Option<i64>),
    /// The buckets `[from, to)` of a rolled-up day, from its day row.
    Day { day: i64, from: i64, to: i64 },
}

/// Cuts the time range `[from, to)` into stretches, in time order: the whole 15-minute
/// buckets of rolled-up days (`rolled_up` ascending, as [`rolled_up_days`] gives them) come
/// from day rows, everything else from raw rows.
pub fn stretches(from: Option<i64>, to: Option<i64>, rolled_up: &[i64]) -> Vec<Stretch> {
    let ceil = |t: i64| {
        let floor = t.div_euclid(BUCKET_MICROS) * BUCKET_MICROS;
        if floor == t { t } else { floor + BUCKET_MICROS }
    };
    let floor = |t: i64| t.div_euclid(BUCKET_MICROS) * BUCKET_MICROS;
    let mut out = Vec::new();
    let mut cursor = from;
    let raw_until = |cursor: Option<i64>, until: Option<i64>, out: &mut Vec<Stretch>| {
        let empty = matches!((cursor, until), (Some(c), Some(u)) if c >= u);
        if !empty {
            out.push(Stretch::Raw(cursor, until));
        }
    };
    for &day in rolled_up {
        let start = from.map_or(day, |f| ceil(f).max(day));
        let end = to.map_or(day + DAY_MICROS, |t| floor(t).min(day + DAY_MICROS));
        if start >= end {
            continue;
        }
        raw_until(cursor, Some(start), &mut out);
        out.push(Stretch::Day {
            day,
            from: start,
            to: end,
        });
        cursor = Some(end);
    }
    raw_until(cursor, to, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grain::{BUCKET_MICROS as Q, DAY_MICROS as D, WEEK_MICROS as W};

    /// Monday 1970-01-05.
    const MONDAY: i64 = 4 * D;

    fn rollup(grain: Grain, from: i64, to: i64) -> Span {
        Span::Rollup {
            grain,
            from: Some(from),
            to: Some(to),
        }
    }

    fn raw(from: i64, to: i64) -> Span {
        Span::Raw {
            from: Some(from),
            to: Some(to),
        }
    }

    #[test]
    fn a_range_is_weeks_in_the_middle_then_days_buckets_and_raw_edges() {
        let from = MONDAY - D - 2 * Q - 7;
        let to = MONDAY + 2 * W + D + Q + 3;
        assert_eq!(
            spans(Some(from), Some(to), Plan::Rollup, &SUM_GRAINS),
            vec![
                raw(from, MONDAY - D - 2 * Q),
                rollup(Grain::Quarter, MONDAY - D - 2 * Q, MONDAY - D),
                rollup(Grain::Day, MONDAY - D, MONDAY),
                rollup(Grain::Week, MONDAY, MONDAY + 2 * W),
                rollup(Grain::Day, MONDAY + 2 * W, MONDAY + 2 * W + D),
                rollup(Grain::Quarter, MONDAY + 2 * W + D, MONDAY + 2 * W + D + Q),
                raw(MONDAY + 2 * W + D + Q, to),
            ]
        );
    }

    #[test]
    fn a_range_inside_one_bucket_is_raw_and_an_aligned_one_has_no_raw_part() {
        assert_eq!(
            spans(Some(Q + 1), Some(2 * Q - 1), Plan::Rollup, &SUM_GRAINS),
            vec![raw(Q + 1, 2 * Q - 1)]
        );
        assert_eq!(
            spans(Some(Q), Some(5 * Q), Plan::Rollup, &SUM_GRAINS),
            vec![rollup(Grain::Quarter, Q, 5 * Q)]
        );
    }

    #[test]
    fn open_ranges_use_open_spans_and_all_time_is_one_span() {
        assert_eq!(
            spans(None, None, Plan::Rollup, &SUM_GRAINS),
            vec![Span::Rollup {
                grain: Grain::All,
                from: None,
                to: None
            }]
        );
        assert_eq!(
            spans(None, Some(MONDAY + Q), Plan::Rollup, &SUM_GRAINS),
            vec![
                Span::Rollup {
                    grain: Grain::Month,
                    from: None,
                    to: Some(0)
                },
                rollup(Grain::Day, 0, MONDAY),
                rollup(Grain::Quarter, MONDAY, MONDAY + Q),
            ]
        );
        assert_eq!(
            spans(Some(MONDAY), None, Plan::Rollup, &SUM_GRAINS),
            vec![
                rollup(Grain::Week, MONDAY, MONDAY + 3 * W),
                rollup(Grain::Day, MONDAY + 3 * W, 31 * D),
                Span::Rollup {
                    grain: Grain::Month,
                    from: Some(31 * D),
                    to: None
                }
            ]
        );
    }

    #[test]
    fn a_day_held_mostly_is_its_day_row_minus_the_buckets_outside() {
        // From 22:00 the day before Monday to 23:07 on Monday: Monday is held for 92 whole
        // buckets and a raw edge.
        let from = MONDAY - 8 * Q;
        let to = MONDAY + D - 4 * Q + 7;
        let plan = spans_for_counts(Some(from), Some(to), Plan::Rollup);
        assert_eq!(
            plan,
            vec![
                (raw(MONDAY + D - 4 * Q, to), Sign::Add),
                (rollup(Grain::Quarter, from, MONDAY), Sign::Add),
                (rollup(Grain::Day, MONDAY, MONDAY + D), Sign::Add),
                (
                    rollup(Grain::Quarter, MONDAY + D - 4 * Q, MONDAY + D),
                    Sign::Subtract
                ),
            ]
        );
        // Held less than half: buckets, as spans() plans them.
        let short = spans_for_counts(Some(MONDAY), Some(MONDAY + 40 * Q), Plan::Rollup);
        assert_eq!(
            short,
            vec![(rollup(Grain::Quarter, MONDAY, MONDAY + 40 * Q), Sign::Add)]
        );
    }

    /// 2025-10-01T00:00:00Z.
    const OCTOBER: i64 = 1_759_276_800_000_000;
    /// 2025-11-01T00:00:00Z.
    const NOVEMBER: i64 = OCTOBER + 31 * D;

    #[test]
    fn whole_months_are_month_rows() {
        let september = OCTOBER - 30 * D;
        assert_eq!(
            spans(
                Some(september),
                Some(NOVEMBER + Q),
                Plan::Rollup,
                &SUM_GRAINS
            ),
            vec![
                rollup(Grain::Month, september, NOVEMBER),
                rollup(Grain::Quarter, NOVEMBER, NOVEMBER + Q),
            ]
        );
    }

    #[test]
    fn a_berlin_month_is_its_utc_month_with_buckets_added_and_taken_off() {
        // October in Berlin: 22:00 UTC on September 30th to 23:00 UTC on October 31st.
        let (from, to) = (OCTOBER - 8 * Q, NOVEMBER - 4 * Q);
        assert_eq!(
            spans_for_counts(Some(from), Some(to), Plan::Rollup),
            vec![
                (rollup(Grain::Quarter, from, OCTOBER), Sign::Add),
                (rollup(Grain::Month, OCTOBER, NOVEMBER), Sign::Add),
                (rollup(Grain::Quarter, to, NOVEMBER), Sign::Subtract),
            ]
        );
        // Half a month is cheaper added: weeks and days, as spans() plans them.
        let half = spans_for_counts(Some(OCTOBER), Some(OCTOBER + 15 * D), Plan::Rollup);
        assert!(half.iter().all(|(span, sign)| *sign == Sign::Add
            && !matches!(
                span,
                Span::Rollup {
                    grain: Grain::Month,
                    ..
                }
            )));
    }

    /// What `plan` counts an event at `ts` as: +1 per span adding it, -1 per span taking it
    /// off.
    fn times_counted(plan: &[(Span, Sign)], ts: i64) -> i32 {
        plan.iter()
            .filter(|(span, _)| match *span {
                Span::Raw { from, to } => from.is_none_or(|f| f <= ts) && to.is_none_or(|t| ts < t),
                rollup => rollup.holds_in_rollups(Some(ts)),
            })
            .map(|(_, sign)| if *sign == Sign::Add { 1 } else { -1 })
            .sum()
    }

    /// A time near `OCTOBER`, often on a bucket, day or month boundary.
    fn a_time() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::prelude::*;
        let months = [
            OCTOBER - 61 * D,
            OCTOBER - 30 * D,
            OCTOBER,
            NOVEMBER,
            NOVEMBER + 30 * D,
        ];
        (0..months.len(), -40 * D..40 * D, 0..4u8).prop_map(move |(month, offset, align)| {
            let ts = months[month] + offset;
            match align {
                0 => months[month],
                1 => Grain::Day.floor(ts),
                2 => Grain::Quarter.floor(ts),
                _ => ts,
            }
        })
    }

    proptest::proptest! {
        /// Every event in the range is counted once, every other not at all, and every rollup
        /// span starts and ends on its grain's buckets (rows are read by bucket start).
        #[test]
        fn counts_plans_count_each_event_once(
            from in proptest::option::of(a_time()),
            to in proptest::option::of(a_time()),
            probes in proptest::collection::vec(a_time(), 1..40),
        ) {
            let plan = spans_for_counts(from, to, Plan::Rollup);
            for (span, _) in &plan {
                if let Span::Rollup { grain, from, to } = *span {
                    for bound in [from, to].into_iter().flatten() {
                        proptest::prop_assert_eq!(grain.floor(bound), bound, "{:?}", span);
                    }
                }
            }
            let edges = [from, to].into_iter().flatten().flat_map(|t| [t - 1, t, t + 1]);
            for ts in probes.into_iter().chain(edges) {
                let inside = from.is_none_or(|f| f <= ts) && to.is_none_or(|t| ts < t);
                proptest::prop_assert_eq!(
                    times_counted(&plan, ts),
                    i32::from(inside),
                    "{} in {:?}..{:?}: {:?}", ts, from, to, plan
                );
            }
        }
    }

    #[test]
    fn the_grains_allowed_limit_the_plan_and_raw_reads_everything() {
        assert_eq!(
            spans(Some(Q), Some(D + Q), Plan::Rollup, &[Grain::Quarter]),
            vec![rollup(Grain::Quarter, Q, D + Q)]
        );
        assert_eq!(
            spans(None, None, Plan::Raw, &SUM_GRAINS),
            vec![Span::Raw {
                from: None,
                to: None
            }]
        );
    }

    #[test]
    fn people_read_whole_buckets_of_rolled_up_days_and_raw_rows_around_them() {
        assert_eq!(
            stretches(Some(D + 7), Some(3 * D + Q + 5), &[D, 3 * D]),
            vec![
                Stretch::Raw(Some(D + 7), Some(D + Q)),
                Stretch::Day {
                    day: D,
                    from: D + Q,
                    to: 2 * D
                },
                Stretch::Raw(Some(2 * D), Some(3 * D)),
                Stretch::Day {
                    day: 3 * D,
                    from: 3 * D,
                    to: 3 * D + Q
                },
                Stretch::Raw(Some(3 * D + Q), Some(3 * D + Q + 5)),
            ]
        );
        assert_eq!(
            stretches(None, None, &[D]),
            vec![
                Stretch::Raw(None, Some(D)),
                Stretch::Day {
                    day: D,
                    from: D,
                    to: 2 * D
                },
                Stretch::Raw(Some(2 * D), None),
            ]
        );
        // Inside one bucket: nothing whole to read from the day row.
        assert_eq!(
            stretches(Some(D + 1), Some(D + 2), &[D]),
            vec![Stretch::Raw(Some(D + 1), Some(D + 2))]
        );
    }
}
