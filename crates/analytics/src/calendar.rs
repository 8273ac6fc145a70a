//! Calendar intervals in a time zone: where minutes, hours, days, Monday weeks and months begin,
//! across DST changes (23- and 25-hour days, an hour that happens twice) and in zones with
//! 30- and 45-minute offsets. Pure, so every rule is unit-tested.
//!
//! Sub-day intervals are real time: in a 25-hour day there are two hours labelled 02:00,
//! one at +02:00 and one at +01:00. Days, weeks and months begin at local midnight, or at
//! the first instant of the date when a DST jump skips midnight.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use crate::params::start_of_day;

/// The most points (intervals) one time series may hold.
pub const MAX_POINTS: usize = 5000;

/// How wide one interval (one point) of a time series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    pub const NAMES: &str = "minute, hour, day, week, month";

    pub fn parse(name: &str) -> Option<Interval> {
        Some(match name {
            "minute" => Interval::Minute,
            "hour" => Interval::Hour,
            "day" => Interval::Day,
            "week" => Interval::Week,
            "month" => Interval::Month,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Minute => "minute",
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

/// The start of the interval holding `instant`.
pub fn floor(instant: DateTime<Utc>, interval: Interval, tz: Tz) -> DateTime<Utc> {
    let local = instant.with_timezone(&tz);
    let into_minute = TimeDelta::seconds(i64::from(local.second()))
        + TimeDelta::nanoseconds(i64::from(local.nanosecond()));
    match interval {
        Interval::Minute => instant - into_minute,
        Interval::Hour => instant - TimeDelta::minutes(i64::from(local.minute())) - into_minute,
        Interval::Day => start_of_day(local.date_naive(), tz),
        Interval::Week => {
            let date = local.date_naive();
            let monday = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
            start_of_day(monday, tz)
        }
        Interval::Month => start_of_day(first_of_month(local.date_naive()), tz),
    }
}

/// The start of the interval after the one starting at `start`.
pub fn next(start: DateTime<Utc>, interval: Interval, tz: Tz) -> DateTime<Utc> {
    let date = start.with_timezone(&tz).date_naive();
    let candidate = match interval {
        Interval::Minute => floor(start + TimeDelta::minutes(1), interval, tz),
        Interval::Hour => floor(start + TimeDelta::hours(1), interval, tz),
        Interval::Day => date
            .checked_add_days(Days::new(1))
            .map_or(start, |d| start_of_day(d, tz)),
        Interval::Week => date
            .checked_add_days(Days::new(7))
            .map_or(start, |d| start_of_day(d, tz)),
        Interval::Month => first_of_month(date)
            .checked_add_months(Months::new(1))
            .map_or(start, |d| start_of_day(d, tz)),
    };
    // Always move forward, even at the edge of what chrono can represent.
    if candidate > start {
        candidate
    } else {
        start + TimeDelta::minutes(1)
    }
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The intervals covering `[from, to)`: their starts, then the end of the last one, so a
/// series of `n` intervals has `n + 1` boundaries. `Err` with the count when there are more
/// than [`MAX_POINTS`].
pub fn boundaries(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
    tz: Tz,
) -> Result<Vec<DateTime<Utc>>, usize> {
    let mut bounds = vec![floor(from, interval, tz)];
    let mut last = bounds[0];
    while last < to {
        if bounds.len() > MAX_POINTS {
            return Err(bounds.len());
        }
        last = next(last, interval, tz);
        bounds.push(last);
    }
    if bounds.len() == 1 {
        // An empty range has no intervals.
        bounds.clear();
    }
    Ok(bounds)
}

/// The finest grain (in microseconds) that divides every boundary: 15 minutes lets the
/// rollups answer, a minute or a microsecond means reading raw rows.
pub fn common_grain(bounds: &[DateTime<Utc>]) -> i64 {
    const QUARTER: i64 = 15 * 60 * 1_000_000;
    const MINUTE: i64 = 60 * 1_000_000;
    let divides = |grain: i64| {
        bounds
            .iter()
            .all(|b| b.timestamp_micros().rem_euclid(grain) == 0)
    };
    if divides(QUARTER) {
        QUARTER
    } else if divides(MINUTE) {
        MINUTE
    } else {
        1
    }
}

/// Which interval (index into `bounds`) holds `micros`; `None` outside the series.
pub fn index_of(bounds: &[i64], micros: i64) -> Option<usize> {
    let after = bounds.partition_point(|&b| b <= micros);
    (after >= 1 && after < bounds.len()).then(|| after - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a UTC time")
    }

    fn tz(name: &str) -> Tz {
        name.parse().expect("zone")
    }

    fn local(bounds: &[DateTime<Utc>], zone: Tz) -> Vec<String> {
        bounds
            .iter()
            .map(|b| b.with_timezone(&zone).to_rfc3339())
            .collect()
    }

    #[test]
    fn the_autumn_change_makes_a_25_hour_day_and_two_two_oclocks() {
        let berlin = tz("Europe/Berlin");
        let days = boundaries(
            utc("2025-10-25T22:00:00Z"),
            utc("2025-10-27T23:00:00Z"),
            Interval::Day,
            berlin,
        )
        .expect("few");
        assert_eq!(
            local(&days, berlin),
            [
                "2025-10-26T00:00:00+02:00",
                "2025-10-27T00:00:00+01:00",
                "2025-10-28T00:00:00+01:00"
            ]
        );
        assert_eq!((days[1] - days[0]).num_hours(), 25);
        let hours = boundaries(
            utc("2025-10-26T00:00:00Z"),
            utc("2025-10-26T01:30:00Z"),
            Interval::Hour,
            berlin,
        )
        .expect("few");
        assert_eq!(
            local(&hours, berlin),
            [
                "2025-10-26T02:00:00+02:00",
                "2025-10-26T02:00:00+01:00",
                "2025-10-26T03:00:00+01:00"
            ]
        );
    }

    #[test]
    fn the_spring_change_makes_a_23_hour_day() {
        let new_york = tz("America/New_York");
        let days = boundaries(
            utc("2025-03-09T05:00:00Z"),
            utc("2025-03-10T00:00:00Z"),
            Interval::Day,
            new_york,
        )
        .expect("few");
        assert_eq!((days[1] - days[0]).num_hours(), 23);
    }

    #[test]
    fn half_and_three_quarter_hour_offsets_keep_local_hours_and_days() {
        let kathmandu = tz("Asia/Kathmandu");
        assert_eq!(
            floor(utc("2025-10-02T10:00:00Z"), Interval::Hour, kathmandu),
            utc("2025-10-02T09:15:00Z")
        );
        assert_eq!(
            floor(utc("2025-10-02T10:00:00Z"), Interval::Day, kathmandu),
            utc("2025-10-01T18:15:00Z")
        );
        let st_johns = tz("America/St_Johns");
        assert_eq!(
            floor(utc("2025-10-02T10:00:00Z"), Interval::Day, st_johns),
            utc("2025-10-02T02:30:00Z")
        );
        let kolkata = tz("Asia/Kolkata");
        assert_eq!(
            local(
                &boundaries(
                    utc("2025-10-02T10:00:00Z"),
                    utc("2025-10-02T11:00:00Z"),
                    Interval::Hour,
                    kolkata
                )
                .expect("few"),
                kolkata
            ),
            [
                "2025-10-02T15:00:00+05:30",
                "2025-10-02T16:00:00+05:30",
                "2025-10-02T17:00:00+05:30"
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let berlin = tz("Europe/Berlin");
        // Thursday 2 October 2025.
        assert_eq!(
            floor(utc("2025-10-02T10:00:00Z"), Interval::Week, berlin),
            utc("2025-09-28T22:00:00Z")
        );
        let months = boundaries(
            utc("2025-10-15T00:00:00Z"),
            utc("2025-11-15T00:00:00Z"),
            Interval::Month,
            berlin,
        )
        .expect("few");
        assert_eq!(
            local(&months, berlin),
            [
                "2025-10-01T00:00:00+02:00",
                "2025-11-01T00:00:00+01:00",
                "2025-12-01T00:00:00+01:00"
            ]
        );
    }

    #[test]
    fn too_many_intervals_are_counted_not_built() {
        let error = boundaries(
            utc("2025-01-01T00:00:00Z"),
            utc("2025-12-31T00:00:00Z"),
            Interval::Hour,
            Tz::UTC,
        )
        .expect_err("too many");
        assert!(error > MAX_POINTS);
    }

    #[test]
    fn grains_and_indexes() {
        let quarter = [utc("2025-10-02T10:15:00Z"), utc("2025-10-02T11:45:00Z")];
        assert_eq!(common_grain(&quarter), 15 * 60 * 1_000_000);
        let minute = [utc("2025-10-02T10:01:00Z")];
        assert_eq!(common_grain(&minute), 60 * 1_000_000);
        let bounds = [10, 20, 30];
        assert_eq!(index_of(&bounds, 9), None);
        assert_eq!(index_of(&bounds, 10), Some(0));
        assert_eq!(index_of(&bounds, 29), Some(1));
        assert_eq!(index_of(&bounds, 30), None);
    }
}
