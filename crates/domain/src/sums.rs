//! What is summed: the one definition of the measures every rollup row, raw-edge read and
//! metric works with.
//!
//! [`Sums`] holds counts and exact amounts that add (or take the larger or smaller) when two
//! stretches of events are put together. What one event adds is [`Sums::observe`]; how two
//! combine is [`Sums::add`]; the stored columns, in order, with how each combines, is
//! [`Sums::MEASURES`], from which the store writes its upsert and reads its rows
//! ([`Sums::values`] / [`Sums::from_values`]). All of it comes from the one list in
//! `define_sums!` below, so adding a measure is a line there, what [`Sums::observe`] adds to
//! it, and a migration adding its column.
//!
//! Amounts are kept as whole units plus a sum of remainders (each `amount / 1e6` and
//! `amount % 1e6`, truncating), so that no sum of micro-units can overflow a 64-bit column:
//! [`Sums::revenue_micros`] puts them back together exactly.

use crate::event::EventType;
use crate::money::MICROS_PER_UNIT;

/// How a measure of two stretches of events combines into the measure of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Added.
    Sum,
    /// The larger; absent when neither has one.
    Max,
    /// The smaller; absent when neither has one.
    Min,
}

impl Combine {
    fn apply(self, a: Option<i64>, b: Option<i64>) -> Option<i64> {
        match (self, a, b) {
            (Combine::Sum, a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            (Combine::Max, Some(a), Some(b)) => Some(a.max(b)),
            (Combine::Min, Some(a), Some(b)) => Some(a.min(b)),
            (_, a, b) => a.or(b),
        }
    }
}

/// One measure: its column name and how it combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub column: &'static str,
    pub combine: Combine,
}

/// Declares [`Sums`]: counted measures are `i64` (0 when nothing was counted), larger and
/// smaller ones `Option<i64>`.
macro_rules! define_sums {
    ($( $(#[$doc:meta])* $field:ident: $kind:ident ),* $(,)?) => {
        /// The summed measures of a stretch of events (see the module's notes).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Sums {
            $( $(#[$doc])* pub $field: define_sums!(@type $kind), )*
        }

        impl Sums {
            /// The stored columns, in the order of [`Sums::values`].
            pub const MEASURES: &'static [Measure] = &[
                $( Measure { column: stringify!($field), combine: define_sums!(@combine $kind) }, )*
            ];

            /// How many measures there are.
            pub const COUNT: usize = [$(stringify!($field)),*].len();

            /// The measures in the order of [`Sums::MEASURES`]; `None` for an absent maximum
            /// or minimum.
            pub fn values(&self) -> [Option<i64>; Sums::COUNT] {
                [ $( define_sums!(@get $kind, self.$field), )* ]
            }

            /// The inverse of [`Sums::values`]: one value per measure, in order. Missing values
            /// read as absent.
            pub fn from_values(values: &[Option<i64>]) -> Sums {
                let mut values = values.iter().copied();
                let mut next = || values.next().flatten();
                Sums { $( $field: define_sums!(@set $kind, next()), )* }
            }

            /// Puts `other`'s stretch of events together with this one's.
            pub fn add(&mut self, other: &Sums) {
                $( define_sums!(@add $kind, self.$field, other.$field); )*
            }

            /// Takes `other`'s stretch of events (a part of this one's) off again: the counted
            /// measures only. A maximum or minimum cannot be taken off; they are left as they
            /// were, so a caller that subtracts must not read them.
            pub fn subtract_counts(&mut self, other: &Sums) {
                $( define_sums!(@subtract $kind, self.$field, other.$field); )*
            }
        }
    };
    (@type sum) => { i64 };
    (@type max) => { Option<i64> };
    (@type min) => { Option<i64> };
    (@combine sum) => { Combine::Sum };
    (@combine max) => { Combine::Max };
    (@combine min) => { Combine::Min };
    (@get sum, $value:expr) => { Some($value) };
    (@get $other:ident, $value:expr) => { $value };
    (@set sum, $value:expr) => { $value.unwrap_or(0) };
    (@set $other:ident, $value:expr) => { $value };
    (@add sum, $a:expr, $b:expr) => { $a = $a.saturating_add($b) };
    (@add max, $a:expr, $b:expr) => { $a = Combine::Max.apply($a, $b) };
    (@add min, $a:expr, $b:expr) => { $a = Combine::Min.apply($a, $b) };
    (@subtract sum, $a:expr, $b:expr) => { $a = $a.saturating_sub($b) };
    (@subtract $other:ident, $a:expr, $b:expr) => {};
}

define_sums! {
    page_views: sum,
    add_to_carts: sum,
    purchases: sum,
    /// Purchases that carry an amount (rows imported from the original may not).
    priced_purchases: sum,
    /// Whole units of the purchases' amounts, each truncated toward zero.
    revenue_units: sum,
    /// The remainders of those truncations, in micro-units.
    revenue_rest: sum,
    /// The largest purchase amount, in micro-units.
    max_amount: max,
    /// The smallest purchase amount, in micro-units.
    min_amount: min,
}

impl Sums {
    /// The sums of one event of `event_type`; `amount_micros` counts only on purchases.
    pub fn of(event_type: EventType, amount_micros: Option<i64>) -> Sums {
        let mut sums = Sums::default();
        sums.observe(event_type, amount_micros);
        sums
    }

    /// Adds one event: this is the rule of what each measure counts.
    pub fn observe(&mut self, event_type: EventType, amount_micros: Option<i64>) {
        match event_type {
            EventType::PageView => self.page_views += 1,
            EventType::AddToCart => self.add_to_carts += 1,
            EventType::Purchase => {
                self.purchases += 1;
                if let Some(amount) = amount_micros {
                    self.priced_purchases += 1;
                    self.revenue_units += amount / MICROS_PER_UNIT;
                    self.revenue_rest += amount % MICROS_PER_UNIT;
                    self.max_amount = Combine::Max.apply(self.max_amount, Some(amount));
                    self.min_amount = Combine::Min.apply(self.min_amount, Some(amount));
                }
            }
        }
    }

    /// The exact revenue in micro-units.
    pub fn revenue_micros(&self) -> i128 {
        i128::from(self.revenue_units) * i128::from(MICROS_PER_UNIT) + i128::from(self.revenue_rest)
    }

    /// Events of every type.
    pub fn events(&self) -> i64 {
        self.page_views + self.add_to_carts + self.purchases
    }

    /// Whether every counted measure is zero: no event.
    pub fn is_nothing(&self) -> bool {
        self.events() == 0 && self.priced_purchases == 0 && self.revenue_micros() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_split_into_units_and_rest_and_come_back_exactly() {
        let mut sums = Sums::default();
        sums.observe(EventType::Purchase, Some(99_990_000));
        sums.observe(EventType::Purchase, Some(1_500_000));
        sums.observe(EventType::Purchase, None);
        sums.observe(EventType::PageView, Some(7));
        assert_eq!((sums.purchases, sums.priced_purchases), (3, 2));
        assert_eq!((sums.revenue_units, sums.revenue_rest), (100, 1_490_000));
        assert_eq!(sums.revenue_micros(), 101_490_000);
        assert_eq!(
            (sums.max_amount, sums.min_amount),
            (Some(99_990_000), Some(1_500_000))
        );
        assert_eq!(sums.page_views, 1);
    }

    #[test]
    fn adding_two_stretches_equals_observing_both() {
        let events = [
            (EventType::Purchase, Some(5_000_000)),
            (EventType::AddToCart, None),
            (EventType::Purchase, Some(-3)),
            (EventType::PageView, None),
            (EventType::Purchase, Some(12_345_678)),
        ];
        for split in 0..=events.len() {
            let (a, b) = events.split_at(split);
            let fold = |events: &[(EventType, Option<i64>)]| {
                let mut sums = Sums::default();
                for (t, amount) in events {
                    sums.observe(*t, *amount);
                }
                sums
            };
            let mut joined = fold(a);
            joined.add(&fold(b));
            assert_eq!(joined, fold(&events));
        }
    }

    #[test]
    fn values_follow_the_measures_and_read_back() {
        let sums = Sums::of(EventType::Purchase, Some(2_500_000));
        let values = sums.values();
        assert_eq!(values.len(), Sums::MEASURES.len());
        assert_eq!(Sums::MEASURES[0].column, "page_views");
        assert_eq!(Sums::MEASURES[6].combine, Combine::Max);
        assert_eq!(Sums::from_values(&values), sums);
        assert_eq!(Sums::from_values(&[]), Sums::default());
    }
}
