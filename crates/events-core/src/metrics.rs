//! The metric definitions, as pure functions over aggregates the store computes.
//!
//! Counts and exact micro-unit sums come in; rounded rates and amounts go out, all rounded
//! by [`money::round2`] so that every endpoint agrees to the cent.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::money;
use crate::store::people::PeopleCounts;

/// What one pass over the events yields for the original metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventTotals {
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    /// Purchases that carry an amount (rows imported from the original may not).
    pub priced_purchases: u64,
    pub revenue_micros: i128,
    pub max_amount_micros: Option<i64>,
    pub min_amount_micros: Option<i64>,
}

/// `GET /api/analytics`: the original eight metrics, same names, same meaning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginalMetrics {
    pub total_page_views: u64,
    pub total_add_to_carts: u64,
    pub total_purchases: u64,
    pub conversion_rate: f64,
    pub average_purchase_value: f64,
    pub max_purchase_value: f64,
    pub min_purchase_value: f64,
    pub top_product_id: Option<String>,
}

impl OriginalMetrics {
    pub fn compute(totals: &EventTotals, top_product_id: Option<String>) -> OriginalMetrics {
        OriginalMetrics {
            total_page_views: totals.page_views,
            total_add_to_carts: totals.add_to_carts,
            total_purchases: totals.purchases,
            conversion_rate: money::percent(totals.purchases, totals.page_views),
            average_purchase_value: average_amount(totals.revenue_micros, totals.priced_purchases),
            max_purchase_value: totals
                .max_amount_micros
                .map_or(0.0, |m| money::micros_round2(m.into())),
            min_purchase_value: totals
                .min_amount_micros
                .map_or(0.0, |m| money::micros_round2(m.into())),
            top_product_id,
        }
    }
}

/// The metrics of docs/API.md ("Metrics"), the same everywhere they appear.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub average_order_value: f64,
    pub conversion_rate: f64,
    pub cart_rate: f64,
    pub checkout_rate: f64,
    pub visitors: u64,
    pub sessions: u64,
    pub cart_abandonment_rate: f64,
    pub revenue_by_currency: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn compute(
        totals: &EventTotals,
        people: &PeopleCounts,
        revenue_by_currency: &BTreeMap<String, i128>,
    ) -> Metrics {
        Metrics {
            page_views: totals.page_views,
            add_to_carts: totals.add_to_carts,
            purchases: totals.purchases,
            revenue: money::micros_round2(totals.revenue_micros),
            average_order_value: average_amount(totals.revenue_micros, totals.priced_purchases),
            conversion_rate: money::percent(totals.purchases, totals.page_views),
            cart_rate: money::percent(totals.add_to_carts, totals.page_views),
            checkout_rate: money::percent(totals.purchases, totals.add_to_carts),
            visitors: people.visitors,
            sessions: people.sessions,
            cart_abandonment_rate: money::percent(
                people.abandoned_sessions,
                people.sessions_with_cart,
            ),
            revenue_by_currency: revenue_by_currency
                .iter()
                .map(|(code, micros)| (code.clone(), money::micros_round2(*micros)))
                .collect(),
        }
    }

    /// Each number metric by name, in hundredths (every value has at most two decimals, so
    /// this is exact).
    fn hundredths(&self) -> [(&'static str, i128); 11] {
        let count = |n: u64| i128::from(n) * 100;
        let amount = |v: f64| (v * 100.0).round() as i128;
        [
            ("page_views", count(self.page_views)),
            ("add_to_carts", count(self.add_to_carts)),
            ("purchases", count(self.purchases)),
            ("revenue", amount(self.revenue)),
            ("average_order_value", amount(self.average_order_value)),
            ("conversion_rate", amount(self.conversion_rate)),
            ("cart_rate", amount(self.cart_rate)),
            ("checkout_rate", amount(self.checkout_rate)),
            ("visitors", count(self.visitors)),
            ("sessions", count(self.sessions)),
            ("cart_abandonment_rate", amount(self.cart_abandonment_rate)),
        ]
    }
}

/// The percent change of each number metric from `previous` to `current`, two decimals;
/// `None` (JSON `null`) where the previous value is 0.
pub fn change(current: &Metrics, previous: &Metrics) -> BTreeMap<&'static str, Option<f64>> {
    current
        .hundredths()
        .into_iter()
        .zip(previous.hundredths())
        .map(|((name, now), (_, before))| {
            let change = (before != 0).then(|| money::round2((now - before) * 100, before));
            (name, change)
        })
        .collect()
}

/// The mean amount with two decimals; `0` when nothing was priced.
pub fn average_amount(total_micros: i128, count: u64) -> f64 {
    money::round2(
        total_micros,
        i128::from(count) * i128::from(money::MICROS_PER_UNIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_their_definitions() {
        let totals = EventTotals {
            page_views: 200,
            add_to_carts: 50,
            purchases: 10,
            priced_purchases: 10,
            revenue_micros: 1_005_000 * 10,
            ..EventTotals::default()
        };
        let people = PeopleCounts {
            visitors: 7,
            sessions: 9,
            sessions_with_cart: 3,
            abandoned_sessions: 2,
            funnel: [0; 3],
        };
        let currencies = BTreeMap::from([("EUR".to_owned(), 10_050_000)]);
        let metrics = Metrics::compute(&totals, &people, &currencies);
        assert_eq!(metrics.conversion_rate, 5.0);
        assert_eq!(metrics.cart_rate, 25.0);
        assert_eq!(metrics.checkout_rate, 20.0);
        assert_eq!(metrics.average_order_value, 1.01);
        assert_eq!(metrics.revenue, 10.05);
        assert_eq!(metrics.cart_abandonment_rate, 66.67);
        assert_eq!(metrics.revenue_by_currency["EUR"], 10.05);
    }

    #[test]
    fn change_is_a_percentage_and_null_from_zero() {
        let empty = Metrics::compute(
            &EventTotals::default(),
            &PeopleCounts::default(),
            &BTreeMap::new(),
        );
        let some = Metrics::compute(
            &EventTotals {
                page_views: 9,
                ..EventTotals::default()
            },
            &PeopleCounts::default(),
            &BTreeMap::new(),
        );
        let more = Metrics::compute(
            &EventTotals {
                page_views: 12,
                ..EventTotals::default()
            },
            &PeopleCounts::default(),
            &BTreeMap::new(),
        );
        assert_eq!(change(&more, &some)["page_views"], Some(33.33));
        assert_eq!(change(&some, &more)["page_views"], Some(-25.0));
        assert_eq!(change(&some, &empty)["page_views"], None);
        assert_eq!(change(&empty, &some)["page_views"], Some(-100.0));
    }

    #[test]
    fn an_empty_store_gives_zeros_and_no_top_product() {
        let metrics = OriginalMetrics::compute(&EventTotals::default(), None);
        let json = serde_json::to_value(&metrics).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"total_page_views": 0, "total_add_to_carts": 0, "total_purchases": 0,
                "conversion_rate": 0.0, "average_purchase_value": 0.0, "max_purchase_value": 0.0,
                "min_purchase_value": 0.0, "top_product_id": null})
        );
    }

    #[test]
    fn the_original_test_case_gives_the_original_numbers() {
        let totals = EventTotals {
            page_views: 3,
            add_to_carts: 1,
            purchases: 2,
            priced_purchases: 2,
            revenue_micros: 99_990_000 + 49_990_000,
            max_amount_micros: Some(99_990_000),
            min_amount_micros: Some(49_990_000),
        };
        let metrics = OriginalMetrics::compute(&totals, Some("prod-1".into()));
        assert_eq!(metrics.conversion_rate, 66.67);
        assert_eq!(metrics.average_purchase_value, 74.99);
        assert_eq!(metrics.max_purchase_value, 99.99);
        assert_eq!(metrics.min_purchase_value, 49.99);
    }

    #[test]
    fn the_average_rounds_the_decimal_value_half_away_from_zero() {
        assert_eq!(average_amount(1_000_000 + 1_010_000, 2), 1.01);
    }

    #[test]
    fn purchases_without_an_amount_count_but_do_not_dilute_the_average() {
        let totals = EventTotals {
            page_views: 1,
            purchases: 3,
            priced_purchases: 1,
            revenue_micros: 9_990_000,
            max_amount_micros: Some(9_990_000),
            min_amount_micros: Some(9_990_000),
            ..EventTotals::default()
        };
        let metrics = OriginalMetrics::compute(&totals, None);
        assert_eq!(metrics.total_purchases, 3);
        assert_eq!(metrics.average_purchase_value, 9.99);
        assert_eq!(metrics.conversion_rate, 300.0);
    }
}
