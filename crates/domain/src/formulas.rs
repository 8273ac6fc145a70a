//! Every metric rule, as pure functions over what the store sums and counts: rates, averages,
//! changes, rankings with their tie rules, funnel rates.
//!
//! [`Sums`] and [`PeopleCounts`] come in; rounded rates and amounts go out, all rounded by
//! [`money::round2`] so that every endpoint agrees to the cent. No other module computes a
//! metric.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::EventType;
use crate::money;
use crate::people::PeopleCounts;
use crate::sessions::{SessionCounts, VisitorCounts};
use crate::sums::Sums;

/// A count as the API shows it (counts are never negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `GET /api/analytics`: the original eight metrics, same names, same meaning.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OriginalMetrics {
    pub total_page_views: u64,
    pub total_add_to_carts: u64,
    pub total_purchases: u64,
    pub conversion_rate: f64,
    pub average_purchase_value: f64,
    pub max_purchase_value: f64,
    pub min_purchase_value: f64,
    /// `null` when no page view has a product.
    #[schema(required = true)]
    pub top_product_id: Option<String>,
}

impl OriginalMetrics {
    pub fn compute(totals: &Sums, top_product_id: Option<String>) -> OriginalMetrics {
        OriginalMetrics {
            total_page_views: count(totals.page_views),
            total_add_to_carts: count(totals.add_to_carts),
            total_purchases: count(totals.purchases),
            conversion_rate: money::percent(count(totals.purchases), count(totals.page_views)),
            average_purchase_value: average_amount(
                totals.revenue_micros(),
                count(totals.priced_purchases),
            ),
            max_purchase_value: totals
                .max_amount
                .map_or(0.0, |m| money::micros_round2(m.into())),
            min_purchase_value: totals
                .min_amount
                .map_or(0.0, |m| money::micros_round2(m.into())),
            top_product_id,
        }
    }
}

/// The metrics of docs/API.md ("Metrics"), the same everywhere they appear.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    pub session_conversion_rate: f64,
    pub bounce_rate: f64,
    pub pages_per_session: f64,
    /// Seconds.
    pub average_session_duration: u64,
    pub new_visitors: u64,
    pub returning_customers: u64,
    pub revenue_by_currency: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn compute(
        totals: &Sums,
        people: &PeopleCounts,
        (sessions, visitors): (&SessionCounts, &VisitorCounts),
        revenue_by_currency: &BTreeMap<String, i128>,
    ) -> Metrics {
        let (page_views, add_to_carts, purchases) = (
            count(totals.page_views),
            count(totals.add_to_carts),
            count(totals.purchases),
        );
        Metrics {
            page_views,
            add_to_carts,
            purchases,
            revenue: money::micros_round2(totals.revenue_micros()),
            average_order_value: average_amount(
                totals.revenue_micros(),
                count(totals.priced_purchases),
            ),
            conversion_rate: money::percent(purchases, page_views),
            cart_rate: money::percent(add_to_carts, page_views),
            checkout_rate: money::percent(purchases, add_to_carts),
            visitors: people.visitors,
            sessions: people.sessions,
            cart_abandonment_rate: money::percent(
                people.abandoned_sessions,
                people.sessions_with_cart,
            ),
            session_conversion_rate: session_conversion_rate(sessions),
            bounce_rate: bounce_rate(sessions),
            pages_per_session: pages_per_session(sessions),
            average_session_duration: average_session_duration(sessions),
            new_visitors: visitors.new_visitors,
            returning_customers: visitors.returning_customers,
            revenue_by_currency: revenue_by_currency
                .iter()
                .map(|(code, micros)| (code.clone(), money::micros_round2(*micros)))
                .collect(),
        }
    }

    /// Each number metric by name, in hundredths (every value has at most two decimals, so
    /// this is exact).
    fn hundredths(&self) -> [(&'static str, i128); 17] {
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
            (
                "session_conversion_rate",
                amount(self.session_conversion_rate),
            ),
            ("bounce_rate", amount(self.bounce_rate)),
            ("pages_per_session", amount(self.pages_per_session)),
            (
                "average_session_duration",
                count(self.average_session_duration),
            ),
            ("new_visitors", count(self.new_visitors)),
            ("returning_customers", count(self.returning_customers)),
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

/// Sessions with a purchase ÷ sessions × 100.
pub fn session_conversion_rate(sessions: &SessionCounts) -> f64 {
    money::percent(sessions.converted, sessions.sessions)
}

/// Sessions with exactly one event, a page view ÷ sessions × 100.
pub fn bounce_rate(sessions: &SessionCounts) -> f64 {
    money::percent(sessions.bounced, sessions.sessions)
}

/// Page views of sessions ÷ sessions, two decimals.
pub fn pages_per_session(sessions: &SessionCounts) -> f64 {
    money::round2(
        i128::from(sessions.page_views),
        i128::from(sessions.sessions),
    )
}

/// The mean of (last − first event time) over sessions, in whole seconds rounded half away
/// from zero; `0` without sessions.
pub fn average_session_duration(sessions: &SessionCounts) -> u64 {
    let whole = i128::from(sessions.sessions) * 1_000_000;
    if whole == 0 {
        return 0;
    }
    let seconds = (sessions.duration_micros.max(0) * 2 + whole) / (2 * whole);
    u64::try_from(seconds).unwrap_or(u64::MAX)
}

/// Revenue per currency code, from each currency's sums, in exact micro-units.
pub fn revenue_by_currency<'a>(
    currencies: impl IntoIterator<Item = (&'a String, &'a Sums)>,
) -> BTreeMap<String, i128> {
    currencies
        .into_iter()
        .map(|(code, sums)| (code.clone(), sums.revenue_micros()))
        .collect()
}

/// What products can be ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    PageViews,
    AddToCarts,
    Purchases,
    Revenue,
    ConversionRate,
}

/// One product's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    pub product_id: String,
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub conversion_rate: f64,
}

impl ProductRow {
    pub fn compute(product_id: String, sums: &Sums) -> ProductRow {
        ProductRow {
            revenue: money::micros_round2(sums.revenue_micros()),
            conversion_rate: money::percent(count(sums.purchases), count(sums.page_views)),
            product_id,
            page_views: count(sums.page_views),
            add_to_carts: count(sums.add_to_carts),
            purchases: count(sums.purchases),
        }
    }

    fn by(&self, sort: ProductSort) -> impl PartialOrd + '_ {
        match sort {
            ProductSort::PageViews => self.page_views as f64,
            ProductSort::AddToCarts => self.add_to_carts as f64,
            ProductSort::Purchases => self.purchases as f64,
            ProductSort::Revenue => self.revenue,
            ProductSort::ConversionRate => self.conversion_rate,
        }
    }
}

/// Products ranked by `sort`: descending by the value shown (so products that look tied are
/// tied), then by `product_id` ascending in byte order. The one ranking rule of every product
/// list and of the top product.
pub fn rank_products(
    products: impl IntoIterator<Item = (String, Sums)>,
    sort: ProductSort,
) -> Vec<ProductRow> {
    let mut rows: Vec<ProductRow> = products
        .into_iter()
        .map(|(id, sums)| ProductRow::compute(id, &sums))
        .collect();
    rows.sort_by(|a, b| {
        b.by(sort)
            .partial_cmp(&a.by(sort))
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.product_id.as_bytes().cmp(b.product_id.as_bytes()))
    });
    rows
}

/// The products with page views, most viewed first (ties: the smallest id in byte order).
pub fn most_viewed(products: impl IntoIterator<Item = (String, Sums)>) -> Vec<ProductRow> {
    let viewed = products.into_iter().filter(|(_, sums)| sums.page_views > 0);
    rank_products(viewed, ProductSort::PageViews)
}

/// What breakdown rows can be ranked by: every metric of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakdownSort {
    Visitors,
    Sessions,
    PageViews,
    AddToCarts,
    Purchases,
    Revenue,
    ConversionRate,
    SessionConversionRate,
    AverageOrderValue,
    BounceRate,
}

impl BreakdownSort {
    pub const ALL: [(&'static str, BreakdownSort); 10] = [
        ("visitors", BreakdownSort::Visitors),
        ("sessions", BreakdownSort::Sessions),
        ("page_views", BreakdownSort::PageViews),
        ("add_to_carts", BreakdownSort::AddToCarts),
        ("purchases", BreakdownSort::Purchases),
        ("revenue", BreakdownSort::Revenue),
        ("conversion_rate", BreakdownSort::ConversionRate),
        (
            "session_conversion_rate",
            BreakdownSort::SessionConversionRate,
        ),
        ("average_order_value", BreakdownSort::AverageOrderValue),
        ("bounce_rate", BreakdownSort::BounceRate),
    ];
}

/// One row of a breakdown (docs/API.md, "Where buyers come from"): the events credited to one value.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BreakdownRow {
    /// The value (a channel, a country, a path…); `null` for the sessions without one.
    #[schema(required = true)]
    pub value: Option<String>,
    pub visitors: u64,
    pub sessions: u64,
    pub page_views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub conversion_rate: f64,
    pub session_conversion_rate: f64,
    pub average_order_value: f64,
    pub bounce_rate: f64,
}

impl BreakdownRow {
    pub fn compute(
        value: Option<String>,
        sums: &Sums,
        visitors: u64,
        sessions: &SessionCounts,
    ) -> BreakdownRow {
        BreakdownRow {
            value,
            visitors,
            sessions: sessions.sessions,
            page_views: count(sums.page_views),
            add_to_carts: count(sums.add_to_carts),
            purchases: count(sums.purchases),
            revenue: money::micros_round2(sums.revenue_micros()),
            conversion_rate: money::percent(count(sums.purchases), count(sums.page_views)),
            session_conversion_rate: session_conversion_rate(sessions),
            average_order_value: average_amount(
                sums.revenue_micros(),
                count(sums.priced_purchases),
            ),
            bounce_rate: bounce_rate(sessions),
        }
    }

    /// A row of the `page` breakdown: visitors and page views only, the rest `0`.
    pub fn page(value: Option<String>, page_views: u64, visitors: u64) -> BreakdownRow {
        BreakdownRow {
            value,
            visitors,
            sessions: 0,
            page_views,
            add_to_carts: 0,
            purchases: 0,
            revenue: 0.0,
            conversion_rate: 0.0,
            session_conversion_rate: 0.0,
            average_order_value: 0.0,
            bounce_rate: 0.0,
        }
    }

    fn by(&self, sort: BreakdownSort) -> f64 {
        match sort {
            BreakdownSort::Visitors => self.visitors as f64,
            BreakdownSort::Sessions => self.sessions as f64,
            BreakdownSort::PageViews => self.page_views as f64,
            BreakdownSort::AddToCarts => self.add_to_carts as f64,
            BreakdownSort::Purchases => self.purchases as f64,
            BreakdownSort::Revenue => self.revenue,
            BreakdownSort::ConversionRate => self.conversion_rate,
            BreakdownSort::SessionConversionRate => self.session_conversion_rate,
            BreakdownSort::AverageOrderValue => self.average_order_value,
            BreakdownSort::BounceRate => self.bounce_rate,
        }
    }
}

/// Breakdown rows ranked by `sort`: descending by the value shown, ties by `value` ascending
/// in byte order, `null` last. The one ranking rule of every breakdown.
pub fn rank_breakdown(mut rows: Vec<BreakdownRow>, sort: BreakdownSort) -> Vec<BreakdownRow> {
    rows.sort_by(|a, b| {
        b.by(sort)
            .partial_cmp(&a.by(sort))
            .unwrap_or(Ordering::Equal)
            .then_with(|| match (&a.value, &b.value) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    });
    rows
}

/// One step of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelStep {
    #[schema(schema_with = step_schema)]
    pub step: &'static str,
    pub count: u64,
    pub rate_from_previous: f64,
    pub rate_from_first: f64,
}

/// A funnel step is named by its event type.
fn step_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(EventType::ALL.map(EventType::as_str)))
        .build()
}

/// The events of each type, as the API shows them: page views, add to carts, purchases (also
/// the steps of the funnel by events).
pub fn event_counts(sums: &Sums) -> [u64; 3] {
    [sums.page_views, sums.add_to_carts, sums.purchases].map(count)
}

/// The funnel page view → add to cart → purchase from the count that reached each step.
pub fn funnel_steps(counts: [u64; 3]) -> Vec<FunnelStep> {
    ["page_view", "add_to_cart", "purchase"]
        .into_iter()
        .enumerate()
        .map(|(i, step)| FunnelStep {
            step,
            count: counts[i],
            rate_from_previous: match i.checked_sub(1) {
                None => 100.0,
                Some(previous) => money::percent(counts[i], counts[previous]),
            },
            rate_from_first: if i == 0 {
                100.0
            } else {
                money::percent(counts[i], counts[0])
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: (&SessionCounts, &VisitorCounts) = (
        &SessionCounts {
            sessions: 0,
            converted: 0,
            bounced: 0,
            page_views: 0,
            duration_micros: 0,
        },
        &VisitorCounts {
            new_visitors: 0,
            returning_customers: 0,
        },
    );

    #[test]
    fn session_metrics_follow_their_definitions() {
        let sessions = SessionCounts {
            sessions: 3,
            converted: 1,
            bounced: 2,
            page_views: 7,
            duration_micros: 4_500_000,
        };
        assert_eq!(session_conversion_rate(&sessions), 33.33);
        assert_eq!(bounce_rate(&sessions), 66.67);
        assert_eq!(pages_per_session(&sessions), 2.33);
        // 1.5 s rounds half away from zero.
        assert_eq!(average_session_duration(&sessions), 2);
        assert_eq!(average_session_duration(&SessionCounts::default()), 0);
    }

    #[test]
    fn breakdown_rows_sort_descending_ties_by_value_null_last() {
        let row = |value: Option<&str>, views: i64| {
            BreakdownRow::compute(
                value.map(str::to_owned),
                &Sums {
                    page_views: views,
                    ..Sums::default()
                },
                1,
                &SessionCounts::default(),
            )
        };
        let rows = rank_breakdown(
            vec![
                row(None, 5),
                row(Some("b"), 5),
                row(Some("B"), 5),
                row(Some("a"), 9),
                row(None, 9),
            ],
            BreakdownSort::PageViews,
        );
        let values: Vec<Option<&str>> = rows.iter().map(|r| r.value.as_deref()).collect();
        assert_eq!(values, [Some("a"), None, Some("B"), Some("b"), None]);
    }

    #[test]
    fn rates_follow_their_definitions() {
        let totals = Sums {
            page_views: 200,
            add_to_carts: 50,
            purchases: 10,
            priced_purchases: 10,
            revenue_units: 10,
            revenue_rest: 50_000,
            ..Sums::default()
        };
        let people = PeopleCounts {
            visitors: 7,
            sessions: 9,
            sessions_with_cart: 3,
            abandoned_sessions: 2,
            funnel: [0; 3],
            ..PeopleCounts::default()
        };
        let currencies = BTreeMap::from([("EUR".to_owned(), 10_050_000)]);
        let metrics = Metrics::compute(&totals, &people, NOBODY, &currencies);
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
            &Sums::default(),
            &PeopleCounts::default(),
            NOBODY,
            &BTreeMap::new(),
        );
        let some = Metrics::compute(
            &Sums {
                page_views: 9,
                ..Sums::default()
            },
            &PeopleCounts::default(),
            NOBODY,
            &BTreeMap::new(),
        );
        let more = Metrics::compute(
            &Sums {
                page_views: 12,
                ..Sums::default()
            },
            &PeopleCounts::default(),
            NOBODY,
            &BTreeMap::new(),
        );
        assert_eq!(change(&more, &some)["page_views"], Some(33.33));
        assert_eq!(change(&some, &more)["page_views"], Some(-25.0));
        assert_eq!(change(&some, &empty)["page_views"], None);
        assert_eq!(change(&empty, &some)["page_views"], Some(-100.0));
    }

    #[test]
    fn an_empty_store_gives_zeros_and_no_top_product() {
        let metrics = OriginalMetrics::compute(&Sums::default(), None);
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
        let totals = Sums {
            page_views: 3,
            add_to_carts: 1,
            purchases: 2,
            priced_purchases: 2,
            revenue_units: 148,
            revenue_rest: 1_980_000,
            max_amount: Some(99_990_000),
            min_amount: Some(49_990_000),
        };
        let metrics = OriginalMetrics::compute(&totals, Some("prod-1".into()));
        assert_eq!(metrics.conversion_rate, 66.67);
        assert_eq!(metrics.average_purchase_value, 74.99);
        assert_eq!(metrics.max_purchase_value, 99.99);
        assert_eq!(metrics.min_purchase_value, 49.99);
    }

    #[test]
    fn products_rank_by_the_value_shown_then_by_id_in_byte_order() {
        let product = |views: i64, purchases: i64| Sums {
            page_views: views,
            purchases,
            ..Sums::default()
        };
        let products = vec![
            ("b".to_owned(), product(3, 1)),
            ("a".to_owned(), product(3, 1)),
            ("B".to_owned(), product(3, 0)),
            ("c".to_owned(), product(0, 2)),
        ];
        let ids =
            |rows: Vec<ProductRow>| rows.into_iter().map(|r| r.product_id).collect::<Vec<_>>();
        assert_eq!(
            ids(rank_products(products.clone(), ProductSort::PageViews)),
            ["B", "a", "b", "c"]
        );
        assert_eq!(
            ids(rank_products(products.clone(), ProductSort::Purchases)),
            ["c", "a", "b", "B"]
        );
        assert_eq!(ids(most_viewed(products)), ["B", "a", "b"]);
    }

    #[test]
    fn funnel_rates_are_from_the_previous_and_the_first_step() {
        let three = funnel_steps([200, 50, 10]);
        let rates: Vec<(f64, f64)> = three
            .iter()
            .map(|s| (s.rate_from_previous, s.rate_from_first))
            .collect();
        assert_eq!(rates, [(100.0, 100.0), (25.0, 25.0), (20.0, 5.0)]);
        assert_eq!(funnel_steps([0, 0, 0])[2].rate_from_previous, 0.0);
    }

    #[test]
    fn the_average_rounds_the_decimal_value_half_away_from_zero() {
        assert_eq!(average_amount(1_000_000 + 1_010_000, 2), 1.01);
    }

    #[test]
    fn purchases_without_an_amount_count_but_do_not_dilute_the_average() {
        let totals = Sums {
            page_views: 1,
            purchases: 3,
            priced_purchases: 1,
            revenue_units: 9,
            revenue_rest: 990_000,
            max_amount: Some(9_990_000),
            min_amount: Some(9_990_000),
            ..Sums::default()
        };
        let metrics = OriginalMetrics::compute(&totals, None);
        assert_eq!(metrics.total_purchases, 3);
        assert_eq!(metrics.average_purchase_value, 9.99);
        assert_eq!(metrics.conversion_rate, 300.0);
    }
}
