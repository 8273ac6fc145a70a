//! Ingestion against a real Redis: what is answered `202` is in the stream, what is refused
//! is not, and every refusal says why.

mod attribution;
mod connections;
mod helpers;
mod input;
mod keys;
mod no_panic;
mod shutdown;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use helpers::{CHANNEL, spawn_app, spawn_app_with, spawn_app_with_args};
use serde_json::{Value, json};
use test_support::RedisServer;

fn page_view() -> Value {
    json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "product_id": "prod-123"})
}

#[tokio::test]
async fn an_accepted_event_is_in_the_stream_with_its_id() {
    let app = spawn_app().await;
    let response = app.post_json("/v1/events", &page_view()).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "accepted");
    let event_id = body["event_id"].as_str().expect("an event id").to_owned();

    let stored = app.stream_events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["event_id"], event_id.as_str());
    assert_eq!(stored[0]["event_type"], "page_view");
    assert_eq!(stored[0]["timestamp"], "2025-10-02T10:30:00.000000Z");
    assert_eq!(stored[0]["shop_id"], "default");
    assert!(stored[0]["received_at"].is_string());
}

#[tokio::test]
async fn the_original_clients_requests_are_all_accepted() {
    let app = spawn_app().await;
    let requests = [
        page_view(),
        json!({"event_type": "add_to_cart", "timestamp": "2025-10-02T10:35:00Z", "product_id": "prod-123"}),
        json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z", "product_id": "prod-123", "order_amount": 99.99}),
    ];
    for request in &requests {
        assert_eq!(app.post_json("/v1/events", request).await.status(), 202);
    }
    assert_eq!(app.stream_events().len(), 3);
}

#[tokio::test]
async fn the_event_is_also_published_on_the_channel() {
    let app = spawn_app().await;
    let client = redis::Client::open(app.redis.url()).expect("URL");
    let mut pubsub = client.get_async_pubsub().await.expect("subscribes");
    pubsub.subscribe(CHANNEL).await.expect("subscribes");
    let body =
        json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "event_id": "abc"});
    assert_eq!(app.post_json("/v1/events", &body).await.status(), 202);
    let message = tokio::time::timeout(Duration::from_secs(5), pubsub.on_message().next())
        .await
        .expect("a message in time")
        .expect("a message");
    let payload: Value =
        serde_json::from_str(&message.get_payload::<String>().expect("text")).expect("JSON");
    assert_eq!(payload, app.stream_events()[0]);
}

#[tokio::test]
async fn every_field_error_is_listed_and_nothing_reaches_redis() {
    let app = spawn_app().await;
    let body = json!({"event_type": "purchase", "timestamp": "later", "order_ammount": 5, "currency": "usd"});
    let response = app.post_json("/v1/events", &body).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    let fields: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    for field in ["order_ammount", "timestamp", "currency", "order_amount"] {
        assert!(fields.contains(&field), "{field} missing from {body}");
    }
    assert!(body["error"].is_string());
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_with_a_json_body() {
    let app = spawn_app().await;
    let response = app
        .post_raw("/v1/events", "application/json", "{\"event_type\": ".into())
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["details"][0]["field"], "body");
}

#[tokio::test]
async fn content_types_are_checked() {
    let app = spawn_app().await;
    let text = page_view().to_string();
    assert_eq!(
        app.post_raw("/v1/events", "text/plain;charset=UTF-8", text.clone())
            .await
            .status(),
        202
    );
    assert_eq!(
        app.post_raw(
            "/v1/events",
            "application/json; charset=utf-8",
            text.clone()
        )
        .await
        .status(),
        202
    );
    let refused = app
        .post_raw(
            "/v1/events",
            "application/x-www-form-urlencoded",
            text.clone(),
        )
        .await;
    assert_eq!(refused.status(), 415);
    assert!(refused.json::<Value>().await.expect("JSON")["error"].is_string());
    let without_type = app
        .client
        .post(format!("{}/v1/events", app.address))
        .body(text)
        .send()
        .await
        .expect("sent");
    assert_eq!(without_type.status(), 415);
    assert_eq!(app.stream_events().len(), 2);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let mut event = page_view();
    event["path"] = json!("p".repeat(70 * 1024));
    let response = app.post_json("/v1/events", &event).await;
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn a_batch_is_judged_event_by_event() {
    let app = spawn_app().await;
    let body = json!({"events": [page_view(), {"event_type": "nope"}, page_view()]});
    let response = app.post_json("/v1/events/batch", &body).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"].as_array().expect("list").len(), 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert!(
        body["rejected"][0]["details"]
            .as_array()
            .expect("details")
            .iter()
            .any(|d| d["field"] == "timestamp")
    );
    assert_eq!(app.stream_events().len(), 2);
}

#[tokio::test]
async fn a_batch_with_nothing_valid_is_refused() {
    let app = spawn_app().await;
    let empty = app
        .post_json("/v1/events/batch", &json!({"events": []}))
        .await;
    assert_eq!(empty.status(), 400);
    let invalid = app
        .post_json(
            "/v1/events/batch",
            &json!({"events": [{"event_type": "x"}]}),
        )
        .await;
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.expect("JSON");
    assert_eq!(body["details"][0]["field"], "events[0].event_type");
    let not_a_batch = app.post_json("/v1/events/batch", &page_view()).await;
    assert_eq!(not_a_batch.status(), 400);
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn a_batch_over_1000_events_is_413() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..1001)
        .map(|_| json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"}))
        .collect();
    let response = app
        .post_json("/v1/events/batch", &json!({"events": events}))
        .await;
    assert_eq!(response.status(), 413);
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn with_redis_down_events_are_refused_503_quickly_and_readiness_fails() {
    let mut redis = RedisServer::start();
    redis.kill();
    let app = spawn_app_with(redis, "300ms").await;
    let started = Instant::now();
    let response = app.post_json("/v1/events", &page_view()).await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1300),
        "answered after {:?}",
        started.elapsed()
    );
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());
    let ready = app.get("/v1/ready").await;
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn health_and_readiness_answer_while_redis_is_up() {
    let app = spawn_app().await;
    let health = app.get("/v1/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.expect("JSON"),
        json!({"status": "healthy"})
    );
    let ready = app.get("/v1/ready").await;
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn browsers_on_other_origins_may_post() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/events", app.address),
        )
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn ingestion_recovers_by_itself_when_redis_returns() {
    let mut app = spawn_app_with(RedisServer::start(), "300ms").await;
    assert_eq!(
        app.post_json("/v1/events", &page_view()).await.status(),
        202
    );
    app.redis.kill();
    assert_eq!(
        app.post_json("/v1/events", &page_view()).await.status(),
        503
    );
    app.redis.restart();
    test_support::eventually(
        "ingestion to accept again",
        Duration::from_secs(10),
        || async {
            (app.post_json("/v1/events", &page_view()).await.status() == 202).then_some(())
        },
    )
    .await;
    let ready = app.get("/v1/ready").await;
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn past_max_backlog_events_are_refused_until_the_consumer_catches_up() {
    let app = spawn_app_with_args(RedisServer::start(), &["--max-backlog", "3"]).await;
    for _ in 0..3 {
        assert_eq!(
            app.post_json("/v1/events", &page_view()).await.status(),
            202
        );
    }
    let refused = test_support::eventually(
        "the backlog to be noticed",
        Duration::from_secs(5),
        || async {
            let response = app.post_json("/v1/events", &page_view()).await;
            (response.status() == 503).then_some(response)
        },
    )
    .await;
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["error"].as_str().expect("message").contains("limit 3"),
        "{body}"
    );
    assert_eq!(
        app.stream_events().len(),
        3,
        "nothing past the limit reached Redis"
    );

    // The consumer acknowledges and trims: the backlog shrinks and events are accepted again.
    let _: i64 = redis::cmd("XTRIM")
        .arg(helpers::STREAM)
        .arg("MAXLEN")
        .arg(0)
        .query(&mut app.redis.connection())
        .expect("XTRIM");
    test_support::eventually(
        "events to be accepted again",
        Duration::from_secs(5),
        || async {
            (app.post_json("/v1/events", &page_view()).await.status() == 202).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn metrics_count_accepted_and_refused_events() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_json("/v1/events", &page_view()).await.status(),
        202
    );
    assert_eq!(
        app.post_json("/v1/events", &json!({"event_type": "x"}))
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the public port"
    );
    let response = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    for name in [
        "events_accepted_total",
        "events_rejected_total{reason=\"invalid\"}",
        "redis_publish_duration_seconds_bucket",
        "http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"202\"}",
        "http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}
