//! Dimensions: the ways the sums of events are broken down.
//!
//! A dimension is a name and a function from an event's [`Facts`] to the value it files the
//! event under (or none: the event is left out of that breakdown). The writer files every
//! event under each dimension's value in the rollups, and a raw-edge read files raw rows with
//! the same function, so the two always agree. "No dimension" (the totals) is a dimension
//! too, whose one value is the empty string.
//!
//! The attributed dimensions ([`Dimension::Attributed`]) file an event under its *session's*
//! attribution ([`crate::attribution`]), which an earlier event arriving later can change: the
//! writer then moves the session's summed events from the old values to the new ones
//! (`store::rollups`), so their rows hold counts and amounts but no maximum or minimum, which
//! could not be taken off again.
//!
//! Adding a dimension: a variant here, its name, its value function, and (for an existing
//! store) a migration that rolls existing events up under it.

use crate::attribution::{Attribute, Attributed};
use crate::event::EventType;

/// The currency code of a purchase that names none (ISO 4217's "no currency").
pub const NO_CURRENCY: &str = "XXX";

/// The value an attributed dimension files an event under when its attribution has none: a
/// control character, which no stored value holds (ingestion refuses them), so that it cannot
/// be taken for a real value. Readers show it as `null`.
pub const NO_VALUE: &str = "\u{1}";

/// What a dimension may read of one stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    pub event_type: EventType,
    pub amount_micros: Option<i64>,
    pub product_id: Option<&'a str>,
    pub currency: Option<&'a str>,
    /// What the event is credited to: its session's attribution, or its own fields without a
    /// session. Only [`Dimension::Attributed`] reads it; a reader that asks no attributed
    /// dimension may leave it empty.
    pub attributed: Attributed<'a>,
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
    /// Every event, by what it is credited to ([`Facts::attributed`]; [`NO_VALUE`] when
    /// that has no value).
    Attributed(Attribute),
}

impl Dimension {
    pub const ALL: [Dimension; 13] = [
        Dimension::Total,
        Dimension::Product,
        Dimension::Currency,
        Dimension::Attributed(Attribute::Channel),
        Dimension::Attributed(Attribute::Source),
        Dimension::Attributed(Attribute::Medium),
        Dimension::Attributed(Attribute::Campaign),
        Dimension::Attributed(Attribute::Referrer),
        Dimension::Attributed(Attribute::LandingPage),
        Dimension::Attributed(Attribute::Device),
        Dimension::Attributed(Attribute::Browser),
        Dimension::Attributed(Attribute::Os),
        Dimension::Attributed(Attribute::Country),
    ];

    /// The name the rollups store it under (an attributed one under its attribute's name).
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Total => "",
            Dimension::Product => "product",
            Dimension::Currency => "currency",
            Dimension::Attributed(attribute) => attribute.name(),
        }
    }

    /// Whether its rows keep a maximum and a minimum: not those of an attributed dimension,
    /// whose rows lose events when a session is taken over (see the module's notes).
    pub fn keeps_extremes(self) -> bool {
        !matches!(self, Dimension::Attributed(_))
    }

    /// The value `facts` is filed under, or `None` when the event is not in this breakdown.
    pub fn value<'a>(self, facts: &Facts<'a>) -> Option<&'a str> {
        match self {
            Dimension::Total => Some(""),
            Dimension::Product => facts.product_id,
            Dimension::Currency => facts
                .purchase_amount()
                .map(|_| facts.currency.unwrap_or(NO_CURRENCY)),
            Dimension::Attributed(attribute) => {
                Some(facts.attributed.get(attribute).unwrap_or(NO_VALUE))
            }
        }
    }

    /// A stored value as readers show it: [`NO_VALUE`] is `None`.
    pub fn shown(value: &str) -> Option<&str> {
        (value != NO_VALUE).then_some(value)
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
            attributed: Attributed::default(),
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
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Dimension::ALL.len());
    }

    #[test]
    fn an_attributed_dimension_files_every_event_and_none_under_no_value() {
        let mut values = [None; 10];
        values[Attribute::Channel.index()] = Some("Email");
        let credited = Facts {
            attributed: Attributed { values },
            ..facts(EventType::AddToCart, None)
        };
        let channel = Dimension::Attributed(Attribute::Channel);
        assert_eq!(channel.value(&credited), Some("Email"));
        let country = Dimension::Attributed(Attribute::Country);
        assert_eq!(country.value(&credited), Some(NO_VALUE));
        assert_eq!(Dimension::shown(NO_VALUE), None);
        assert!(!channel.keeps_extremes() && Dimension::Currency.keeps_extremes());
        let attributed = Dimension::ALL
            .iter()
            .filter(|d| matches!(d, Dimension::Attributed(_)))
            .count();
        assert_eq!(attributed, Attribute::ALL.len());
    }
}
