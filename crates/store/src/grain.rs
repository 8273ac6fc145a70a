//! The time grains the rollups keep, and the UTC arithmetic of their buckets.
//!
//! The finest grain is 15 minutes: every zone offset in use today is a multiple of it, so a
//! local hour, day, week or month is a whole number of 15-minute buckets. Days, weeks and
//! months (UTC, weeks from Monday, calendar months) are there for speed: a month reads one row
//! per value instead of 2,900 buckets, and a month in another zone one month row with a few
//! buckets added and taken off (see [`plan`](super::plan)). "All time" is one bucket per shop
//! and value.

/// One 15-minute bucket, in microseconds.
pub const BUCKET_MICROS: i64 = 15 * 60 * 1_000_000;

/// One UTC day: 96 buckets.
pub const DAY_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// One week: seven UTC days.
pub const WEEK_MICROS: i64 = 7 * DAY_MICROS;

/// 1970-01-01 was a Thursday: weeks start four days later, on Monday 1970-01-05.
const WEEK_OFFSET_MICROS: i64 = 4 * DAY_MICROS;

/// Where undated rows (imported from the original with an unreadable timestamp) sit in the
/// 15-minute grain: below every real bucket, so any bounded range leaves them out as the raw
/// `ts_micros` comparison does. They are in no day or week, and in "all time".
pub const UNDATED_BUCKET: i64 = i64::MIN;

/// The shop id of the rows that sum every shop. Real shop ids are never empty.
pub const ALL_SHOPS: &str = "";

/// A length of time the rollups sum over. The variants are in the order of their codes, so
/// that rows sorted by `Grain` are sorted as the stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Quarter,
    Day,
    Week,
    /// Everything: one bucket, starting at 0.
    All,
    /// A calendar month of UTC, 28 to 31 days.
    Month,
}

impl Grain {
    /// Every grain the writer keeps, finest first.
    pub const ALL: [Grain; 5] = [
        Grain::Quarter,
        Grain::Day,
        Grain::Week,
        Grain::Month,
        Grain::All,
    ];

    /// The number the rollups store it under.
    pub fn code(self) -> i64 {
        match self {
            Grain::Quarter => 0,
            Grain::Day => 1,
            Grain::Week => 2,
            Grain::All => 3,
            Grain::Month => 4,
        }
    }

    /// The start of the bucket of this grain holding `ts_micros`; `None` (an undated row)
    /// has a bucket only in the 15-minute and "all time" grains.
    pub fn bucket_of(self, ts_micros: Option<i64>) -> Option<i64> {
        match (self, ts_micros) {
            (Grain::All, _) => Some(0),
            (Grain::Quarter, None) => Some(UNDATED_BUCKET),
            (_, None) => None,
            (Grain::Quarter, Some(ts)) => Some(floor(ts, BUCKET_MICROS, 0)),
            (Grain::Day, Some(ts)) => Some(floor(ts, DAY_MICROS, 0)),
            (Grain::Week, Some(ts)) => Some(floor(ts, WEEK_MICROS, WEEK_OFFSET_MICROS)),
            (Grain::Month, Some(ts)) => Some(month_of(ts)),
        }
    }

    /// The first bucket start at or after `ts` (`ts` itself when it is one).
    pub fn ceil(self, ts: i64) -> i64 {
        let floor = self.floor(ts);
        if floor == ts { ts } else { self.next(floor) }
    }

    /// The start of the bucket after the one starting at `bucket` (saturating at the end of
    /// time).
    pub fn next(self, bucket: i64) -> i64 {
        match self {
            Grain::Quarter => bucket.saturating_add(BUCKET_MICROS),
            Grain::Day => bucket.saturating_add(DAY_MICROS),
            Grain::Week => bucket.saturating_add(WEEK_MICROS),
            // A month is at most 31 days: 32 days on is in the next one.
            Grain::Month => match bucket.checked_add(32 * DAY_MICROS) {
                Some(later) => month_of(later),
                None => i64::MAX,
            },
            Grain::All => i64::MAX,
        }
    }

    /// The start of the bucket holding `ts`.
    pub fn floor(self, ts: i64) -> i64 {
        self.bucket_of(Some(ts)).unwrap_or(ts)
    }
}

fn floor(ts: i64, length: i64, offset: i64) -> i64 {
    (ts.saturating_sub(offset))
        .div_euclid(length)
        .saturating_mul(length)
        .saturating_add(offset)
}

/// The start of the UTC month holding `ts` (saturating at the start of time): the civil date
/// of its day by Howard Hinnant's `civil_from_days`, then the day of its 1st back.
fn month_of(ts: i64) -> i64 {
    let days = ts.div_euclid(DAY_MICROS);
    // Days since 0000-03-01, in 400-year eras of 146,097 days; years start in March, so that
    // February, the short month, is last.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // 0 = March … 11 = February.
    let month = (5 * day_of_year + 2) / 153;
    let first_of_month = (153 * month + 2) / 5;
    let first = era * 146_097 + day_of_era - day_of_year + first_of_month - 719_468;
    first.saturating_mul(DAY_MICROS)
}

/// The start of the 15-minute bucket holding `ts_micros` (floor, also before 1970).
pub fn bucket_of(ts_micros: i64) -> i64 {
    Grain::Quarter.floor(ts_micros)
}

/// The start of the UTC day holding `ts_micros`.
pub fn day_of(ts_micros: i64) -> i64 {
    Grain::Day.floor(ts_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_floor_before_and_after_1970() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(BUCKET_MICROS - 1), 0);
        assert_eq!(bucket_of(BUCKET_MICROS), BUCKET_MICROS);
        assert_eq!(bucket_of(-1), -BUCKET_MICROS);
        assert_eq!(day_of(DAY_MICROS + 1), DAY_MICROS);
        assert_eq!(day_of(-1), -DAY_MICROS);
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2025-10-27 was a Monday.
        let monday: chrono::DateTime<chrono::Utc> = "2025-10-27T00:00:00Z".parse().expect("time");
        let monday = monday.timestamp_micros();
        assert_eq!(Grain::Week.floor(monday), monday);
        assert_eq!(Grain::Week.floor(monday + 6 * DAY_MICROS + 5), monday);
        assert_eq!(Grain::Week.floor(monday - 1), monday - WEEK_MICROS);
        assert_eq!(Grain::Week.ceil(monday + 1), monday + WEEK_MICROS);
    }

    #[test]
    fn months_are_utc_calendar_months() {
        let at = |text: &str| -> i64 {
            let time: chrono::DateTime<chrono::Utc> = text.parse().expect("time");
            time.timestamp_micros()
        };
        let october = at("2025-10-01T00:00:00Z");
        assert_eq!(Grain::Month.floor(october), october);
        assert_eq!(Grain::Month.floor(at("2025-10-31T23:59:59Z")), october);
        assert_eq!(Grain::Month.floor(october - 1), at("2025-09-01T00:00:00Z"));
        assert_eq!(Grain::Month.ceil(october + 1), at("2025-11-01T00:00:00Z"));
        assert_eq!(
            Grain::Month.next(at("2024-02-01T00:00:00Z")),
            at("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            Grain::Month.next(at("2025-12-01T00:00:00Z")),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            Grain::Month.floor(at("1969-12-31T23:00:00Z")),
            at("1969-12-01T00:00:00Z")
        );
        assert_eq!(
            Grain::Month.floor(at("1600-02-29T12:00:00Z")),
            at("1600-02-01T00:00:00Z")
        );
    }

    /// Every day from 1900 to 2100: a month bucket is chrono's first of the month.
    #[test]
    fn months_agree_with_chrono_day_by_day() {
        use chrono::{Datelike, NaiveDate};
        let mut date = NaiveDate::from_ymd_opt(1900, 1, 1).expect("date");
        while date.year() < 2100 {
            let first = date.with_day(1).expect("first");
            let micros = |d: NaiveDate| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp_micros()
            };
            assert_eq!(
                Grain::Month.floor(micros(date) + 5),
                micros(first),
                "{date}"
            );
            date = date.succ_opt().expect("next day");
        }
    }

    #[test]
    fn months_saturate_at_the_ends_of_time() {
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let floor = Grain::Month.floor(ts);
            assert!(floor <= ts, "{ts}");
            assert!(Grain::Month.ceil(ts) >= ts, "{ts}");
            assert!(Grain::Month.next(floor) >= floor, "{ts}");
        }
    }

    #[test]
    fn undated_rows_are_in_the_finest_grain_and_all_time_only() {
        assert_eq!(Grain::Quarter.bucket_of(None), Some(UNDATED_BUCKET));
        assert_eq!(Grain::Day.bucket_of(None), None);
        assert_eq!(Grain::Week.bucket_of(None), None);
        assert_eq!(Grain::Month.bucket_of(None), None);
        assert_eq!(Grain::All.bucket_of(None), Some(0));
    }
}
