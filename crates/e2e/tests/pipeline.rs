//! Ingestion → Redis → consumer → SQLite → analytics, all real.

use std::time::Duration;

use e2e::Pipeline;
use serde_json::{Value, json};

fn event(event_type: &str, product: &str) -> Value {
    json!({"event_type": event_type, "timestamp": "2025-10-02T10:30:00Z", "product_id": product})
}

fn purchase(product: &str, amount: f64) -> Value {
    json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z", "product_id": product, "order_amount": amount})
}

#[tokio::test]
async fn the_original_projects_test_case_end_to_end() {
    let pipeline = Pipeline::start("200ms").await;
    let events = [
        event("page_view", "prod-1"),
        event("page_view", "prod-2"),
        event("page_view", "prod-1"),
        event("add_to_cart", "prod-1"),
        purchase("prod-1", 99.99),
        purchase("prod-2", 49.99),
    ];
    for event in &events {
        assert_eq!(pipeline.send(event).await, 202);
    }
    let metrics = pipeline
        .metrics_once("all six events", Duration::from_secs(10), |m| {
            m["total_purchases"] == 2
        })
        .await;
    assert_eq!(
        metrics,
        json!({"total_page_views": 3, "total_add_to_carts": 1, "total_purchases": 2, "conversion_rate": 66.67,
            "average_purchase_value": 74.99, "max_purchase_value": 99.99, "min_purchase_value": 49.99,
            "top_product_id": "prod-1"})
    );
}

#[tokio::test]
async fn an_event_is_visible_within_batch_timeout() {
    let pipeline = Pipeline::start("300ms").await;
    let sent = std::time::Instant::now();
    assert_eq!(pipeline.send(&event("page_view", "p")).await, 202);
    pipeline
        .metrics_once("the event", Duration::from_secs(5), |m| {
            m["total_page_views"] == 1
        })
        .await;
    // The batch waits for BATCH_TIMEOUT, then is written at once: well under a second more.
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn refused_input_is_never_counted() {
    let pipeline = Pipeline::start("200ms").await;
    assert_eq!(
        pipeline
            .send(&json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z"}))
            .await,
        400
    );
    assert_eq!(
        pipeline.send(&json!({"event_type": "page_view"})).await,
        400
    );
    assert_eq!(
        pipeline
            .send(
                &json!({"event_type": "page_view", "timestamp": "2025-10-02T10:40:00Z", "typo": 1})
            )
            .await,
        400
    );
    let batch = json!({"events": [event("page_view", "ok"), {"event_type": "bad"}]});
    assert_eq!(pipeline.post("/v1/events/batch", &batch).await, 202);
    assert_eq!(pipeline.send(&event("add_to_cart", "ok")).await, 202);

    let metrics = pipeline
        .metrics_once("the valid events", Duration::from_secs(10), |m| {
            m["total_add_to_carts"] == 1
        })
        .await;
    assert_eq!(metrics["total_page_views"], 1);
    assert_eq!(metrics["total_purchases"], 0);
}

#[tokio::test]
async fn a_retried_event_and_a_repeated_order_are_counted_once() {
    let pipeline = Pipeline::start("200ms").await;
    let mut retried = event("page_view", "p");
    retried["event_id"] = json!("client-key-1");
    let mut order = purchase("p", 10.0);
    order["order_id"] = json!("order-7");
    let mut order_again = order.clone();
    order_again["event_id"] = json!("another-key");
    for body in [&retried, &retried, &order, &order_again] {
        assert_eq!(pipeline.send(body).await, 202);
    }
    assert_eq!(
        pipeline
            .post("/v1/events/batch", &json!({"events": [retried, order]}))
            .await,
        202
    );
    let marker = event("add_to_cart", "marker");
    assert_eq!(pipeline.send(&marker).await, 202);

    let metrics = pipeline
        .metrics_once("the marker", Duration::from_secs(10), |m| {
            m["total_add_to_carts"] == 1
        })
        .await;
    assert_eq!(metrics["total_page_views"], 1);
    assert_eq!(metrics["total_purchases"], 1);
    assert_eq!(metrics["average_purchase_value"], 10.0);
}
