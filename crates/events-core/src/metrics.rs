//! The metric definitions, as pure functions over aggregates the store computes.
//!
//! Counts and exact micro-unit sums come in; rounded rates and amounts go out, all rounded
//! by [`money::round2`] so that every endpoint agrees to the cent.

use serde::Serialize;

use crate::money;

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
