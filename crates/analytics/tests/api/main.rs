//! The analytics API over a real store through the real router: `/api/analytics` here, the
//! `/api/v1` endpoints of docs/API.md in [`v1`], the rollups against raw scans in [`rollups`],
//! and SQLite against PostgreSQL in [`backends`].

mod attribution;
mod backends;
mod edges;
mod helpers;
mod keys;
mod openapi;
mod rollups;
mod shutdown;
mod upkeep;
mod v1;

use helpers::{spawn_app, spawn_app_with_args, spawn_app_with_dashboard};
use serde_json::{Value, json};

fn event(event_type: &str, product: &str, at: &str) -> Value {
    json!({"event_type": event_type, "product_id": product, "timestamp": at})
}

fn purchase(product: &str, amount: f64, at: &str) -> Value {
    json!({"event_type": "purchase", "product_id": product, "order_amount": amount, "timestamp": at})
}

#[tokio::test]
async fn an_empty_store_answers_zeros_and_null() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/analytics").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"total_page_views": 0, "total_add_to_carts": 0, "total_purchases": 0, "conversion_rate": 0.0,
            "average_purchase_value": 0.0, "max_purchase_value": 0.0, "min_purchase_value": 0.0,
            "top_product_id": null})
    );
}

#[tokio::test]
async fn the_original_projects_test_case_gives_its_numbers() {
    let app = spawn_app().await;
    let t = "2025-10-02T10:30:00Z";
    app.store(&[
        event("page_view", "prod-1", t),
        event("page_view", "prod-2", t),
        event("page_view", "prod-1", t),
        event("add_to_cart", "prod-1", t),
        purchase("prod-1", 99.99, t),
        purchase("prod-2", 49.99, t),
    ]);
    let (status, body) = app.get_json("/api/analytics").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"total_page_views": 3, "total_add_to_carts": 1, "total_purchases": 2, "conversion_rate": 66.67,
            "average_purchase_value": 74.99, "max_purchase_value": 99.99, "min_purchase_value": 49.99,
            "top_product_id": "prod-1"})
    );
}

#[tokio::test]
async fn the_average_rounds_half_away_from_zero_on_the_decimal_value() {
    let app = spawn_app().await;
    let t = "2025-10-02T10:30:00Z";
    app.store(&[purchase("a", 1.00, t), purchase("a", 1.01, t)]);
    let (_, body) = app.get_json("/api/analytics").await;
    assert_eq!(body["average_purchase_value"], 1.01);
}

#[tokio::test]
async fn shop_and_range_filters_narrow_every_metric() {
    let app = spawn_app().await;
    let mut in_berlin_day = event("page_view", "late", "2025-10-25T22:30:00Z");
    in_berlin_day["shop_id"] = json!("berlin");
    let mut other_shop = event("page_view", "x", "2025-10-26T10:00:00Z");
    other_shop["shop_id"] = json!("paris");
    let mut berlin_purchase = purchase("late", 20.0, "2025-10-26T12:00:00Z");
    berlin_purchase["shop_id"] = json!("berlin");
    app.store(&[
        in_berlin_day,
        other_shop,
        berlin_purchase,
        event("page_view", "early", "2025-10-25T21:59:59Z"),
    ]);

    let (status, body) = app
        .get_json("/api/analytics?shop_id=berlin&from=2025-10-26&to=2025-10-27&tz=Europe/Berlin")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["total_page_views"], 1);
    assert_eq!(body["total_purchases"], 1);
    assert_eq!(body["top_product_id"], "late");
    assert_eq!(body["conversion_rate"], 100.0);

    let (_, utc_day) = app
        .get_json("/api/analytics?from=2025-10-26&to=2025-10-27")
        .await;
    assert_eq!(
        utc_day["total_page_views"], 1,
        "in UTC only the Paris view is on the 26th"
    );
    let (_, instant) = app
        .get_json("/api/analytics?from=2025-10-25T22:00:00%2B00:00")
        .await;
    assert_eq!(instant["total_page_views"], 2);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    for (query, parameter) in [
        ("?shop=1", "shop"),
        ("?tz=Nowhere/City", "tz"),
        ("?from=tomorrow", "from"),
        ("?from=2025-10-02&to=2025-10-01", "from"),
        ("?shop_id=", "shop_id"),
    ] {
        let (status, body) = app.get_json(&format!("/api/analytics{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["details"][0]["field"], parameter, "{query}: {body}");
        assert!(body["error"].as_str().expect("message").contains(parameter));
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(
        app.get_json("/api/health").await,
        (200, json!({"status": "healthy"}))
    );
    assert_eq!(app.get("/api/ready").await.status(), 200);
    let (status, body) = app.get_json("/api/nothing-here").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn no_other_origin_may_read_unless_listed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/api/analytics", app.address))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "analytics sends no CORS header by default"
    );
    let listed = spawn_app_with_args(&["--cors-origins", "http://localhost:3000"]).await;
    let response = listed
        .client
        .get(format!("{}/api/analytics", listed.address))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn the_built_dashboard_is_served_with_history_fallback() {
    let dist = tempfile::tempdir().expect("temp dir");
    std::fs::write(dist.path().join("index.html"), "<html>dashboard</html>").expect("writes");
    let app = spawn_app_with_dashboard(dist.path()).await;
    for path in ["/", "/products/some-client-route"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.text().await.expect("text").contains("dashboard"));
    }
    assert_eq!(app.get("/api/unknown").await.status(), 404);
    assert_eq!(app.get("/api/analytics").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/analytics").await.status(), 200);
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the public port"
    );
    let metrics = format!("{}/metrics", app.metrics_address);
    let text = app.client.get(metrics).send().await.expect("sent");
    let text = text.text().await.expect("text");
    let line = "http_requests_total{route=\"/api/analytics\",method=\"GET\",status=\"200\"}";
    assert!(text.contains(line), "{line} missing from\n{text}");
}
