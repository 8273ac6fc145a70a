//! Dimensions: the ways the sums of events are broken down.
//!
//! A dimension is a name and a function from an event's [`Facts`] to the value it files the
//! event under (or none: the event is left out of that breakdown). The writer files every
//! event under each dimension's value in the rollups, and a raw-edge read files raw rows with
//! the same function, so the two always agree. "No dimension" (the totals) is a dimension
//! too, whose one value is the empty string.
//!
//! Adding a dimension: a variant here, its name, its value function, and (for an existing
//! store) a migration that rolls existing events up under it.

use crate::event::EventType;

/// The currency code of a purchase that names none (ISO 4217's "no currency").
pub const NO_CURRENCY: &str = "XXX";

/// What a dimension may read of one stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    pub event_type: EventType,
    pub amount_micros: Option<i64>,
    pub product_id: Option<&'a str>,
    pub currency: Option<&'a str>,
}

impl Facts<'_> {
    /// The amount that counts: a purchase's.
    pub fn purchase_amount(&self) -> Option<i64> {
        match self.event_type {
            EventType::Purchase => self.amount_micros,
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// No breakdown: every event, under the value `""`.
    Total,
    /// Events with a product, by `product_id`.
    Product,
    /// Purchases with an amount, by currency (`XXX` when they name none).
    Currency,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Total, Dimension::Product, Dimension::Currency];

    /// The name the rollups store it under.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Total => "",
            Dimension::Product => "product",
            Dimension::Currency => "currency",
        }
    }

    /// The value `facts` is filed under, or `None` when the event is not in this breakdown.
    pub fn value<'a>(self, facts: &Facts<'a>) -> Option<&'a str> {
        match self {
            Dimension::Total => Some(""),
            Dimension::Product => facts.product_id,
            Dimension::Currency => facts
                .purchase_amount()
                .map(|_| facts.currency.unwrap_or(NO_CURRENCY)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(event_type: EventType, amount: Option<i64>) -> Facts<'static> {
        Facts {
            event_type,
            amount_micros: amount,
            product_id: Some("p1"),
            currency: None,
        }
    }

    #[test]
    fn only_priced_purchases_have_a_currency_and_none_reads_xxx() {
        let currency = Dimension::Currency;
        assert_eq!(
            currency.value(&facts(EventType::Purchase, Some(1))),
            Some("XXX")
        );
        assert_eq!(currency.value(&facts(EventType::Purchase, None)), None);
        assert_eq!(currency.value(&facts(EventType::PageView, Some(1))), None);
        let euro = Facts {
            currency: Some("EUR"),
            ..facts(EventType::Purchase, Some(1))
        };
        assert_eq!(currency.value(&euro), Some("EUR"));
    }

    #[test]
    fn every_event_is_in_the_totals_and_names_are_distinct() {
        assert_eq!(
            Dimension::Total.value(&facts(EventType::PageView, None)),
            Some("")
        );
        assert_eq!(
            Dimension::Product.value(&facts(EventType::PageView, None)),
            Some("p1")
        );
        let mut names: Vec<_> = Dimension::ALL.iter().map(|d| d.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Dimension::ALL.len());
    }
}
