//! The advisory locks on UTC days: a batch adding to a day holds its lock shared, a roll-up of
//! the day holds it exclusively, so a day is never rolled up while events are being added.

use crate::grain::DAY_MICROS;

/// The first key of the advisory locks on days (the second is the day's number since 1970).
pub(super) const DAY_LOCKS: i32 = 0x0da7_0001;

/// The number of a UTC day (for its advisory lock).
pub(super) fn day_number(day: i64) -> i32 {
    i32::try_from(day.div_euclid(DAY_MICROS)).unwrap_or(i32::MIN)
}
