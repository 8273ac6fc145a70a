//! The time grains the rollups keep, and the UTC arithmetic of their buckets.
//!
//! The finest grain is 15 minutes: every zone offset in use today is a multiple of it, so a
//! local hour, day, week or month is a whole number of 15-minute buckets. Days and weeks (UTC,
//! weeks from Monday) are there for speed: a month reads four weeks and a few days instead of
//! 2,900 buckets. "All time" is one bucket per shop and value.

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

/// A length of time the rollups sum over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Quarter,
    Day,
    Week,
    /// Everything: one bucket, starting at 0.
    All,
}

impl Grain {
    /// Every grain the writer keeps, finest first.
    pub const ALL: [Grain; 4] = [Grain::Quarter, Grain::Day, Grain::Week, Grain::All];

    /// The number the rollups store it under.
    pub fn code(self) -> i64 {
        match self {
            Grain::Quarter => 0,
            Grain::Day => 1,
            Grain::Week => 2,
            Grain::All => 3,
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
        }
    }

    /// The first bucket start at or after `ts` (`ts` itself when it is one).
    pub fn ceil(self, ts: i64) -> i64 {
        let floor = self.floor(ts);
        if floor == ts {
            ts
        } else {
            floor.saturating_add(self.length())
        }
    }

    /// The start of the bucket holding `ts`.
    pub fn floor(self, ts: i64) -> i64 {
        self.bucket_of(Some(ts)).unwrap_or(ts)
    }

    fn length(self) -> i64 {
        match self {
            Grain::Quarter => BUCKET_MICROS,
            Grain::Day => DAY_MICROS,
            Grain::Week => WEEK_MICROS,
            Grain::All => i64::MAX,
        }
    }
}

fn floor(ts: i64, length: i64, offset: i64) -> i64 {
    (ts.saturating_sub(offset))
        .div_euclid(length)
        .saturating_mul(length)
        .saturating_add(offset)
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
    fn undated_rows_are_in_the_finest_grain_and_all_time_only() {
        assert_eq!(Grain::Quarter.bucket_of(None), Some(UNDATED_BUCKET));
        assert_eq!(Grain::Day.bucket_of(None), None);
        assert_eq!(Grain::Week.bucket_of(None), None);
        assert_eq!(Grain::All.bucket_of(None), Some(0));
    }
}
