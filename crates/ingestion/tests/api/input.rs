//! Input that could corrupt the store is refused with `400` naming the field (docs/SECURITY.md), and
//! what is accepted can be retried idempotently.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::RedisServer;

use crate::helpers::{spawn_app, spawn_app_with_args};

fn page_view() -> Value {
    json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"})
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

/// The fields named by a `400`'s details.
async fn refused_fields(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field").to_owned())
        .collect()
}

#[tokio::test]
async fn a_time_older_than_max_event_age_is_refused_not_dead_lettered_later() {
    let app = spawn_app().await;
    // Year 1 broke every all-time series; sent_at in year 9999 made the stored time −7973.
    let year_one = with(page_view(), "timestamp", json!("0001-01-01T00:00:00Z"));
    let skewed = with(page_view(), "sent_at", json!("9999-12-31T23:59:59Z"));
    for event in [year_one, skewed] {
        let response = app.post_json("/v1/events", &event).await;
        assert_eq!(refused_fields(response).await, ["timestamp"], "{event}");
    }
    assert!(app.stream_events().is_empty());

    let strict = spawn_app_with_args(RedisServer::start(), &["--max-event-age", "1d"]).await;
    let old = with(page_view(), "timestamp", json!("2025-10-02T10:30:00Z"));
    let response = strict.post_json("/v1/events", &old).await;
    assert_eq!(refused_fields(response).await, ["timestamp"]);
}

#[tokio::test]
async fn unicode_format_characters_in_ids_are_refused() {
    let app = spawn_app().await;
    for field in [
        "event_id",
        "product_id",
        "session_id",
        "visitor_id",
        "order_id",
    ] {
        for bad in ["evil\u{202E}gnp.exe", "a\u{200B}b", "\u{FEFF}id"] {
            let response = app
                .post_json("/v1/events", &with(page_view(), field, json!(bad)))
                .await;
            assert_eq!(refused_fields(response).await, [field], "{field} {bad:?}");
        }
    }
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn a_field_given_twice_is_refused_naming_it() {
    let app = spawn_app().await;
    let text = r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","shop_id":"a","shop_id":"victim"}"#;
    let response = app
        .post_raw("/v1/events", "application/json", text.to_owned())
        .await;
    assert_eq!(refused_fields(response).await, ["shop_id"]);

    // In a batch, the event holding it is rejected and the others accepted.
    let batch = format!(
        r#"{{"events":[{text},{{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}}]}}"#
    );
    let response = app
        .post_raw("/v1/events/batch", "application/json", batch)
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["index"], 0);
    assert_eq!(body["rejected"][0]["details"][0]["field"], "shop_id");
    let stored = app.stream_events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["shop_id"], "default");

    let twice =
        r#"{"events":[],"events":[{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}]}"#;
    let response = app
        .post_raw("/v1/events/batch", "application/json", twice.to_owned())
        .await;
    assert_eq!(refused_fields(response).await, ["events"]);
}

#[tokio::test]
async fn a_batch_answers_the_id_stored_for_each_accepted_event_in_order() {
    let app = spawn_app().await;
    let body = json!({"events": [
        with(page_view(), "event_id", json!("mine-1")),
        {"event_type": "nope"},
        page_view(),
        with(page_view(), "event_id", json!("mine-2")),
    ]});
    let response = app.post_json("/v1/events/batch", &body).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    let ids: Vec<&str> = body["event_ids"]
        .as_array()
        .expect("event_ids")
        .iter()
        .map(|id| id.as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], "mine-1");
    assert_eq!(ids[2], "mine-2");
    let stored: Vec<String> = app
        .stream_events()
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(stored, ids, "the ids answered are the ids stored");
}

#[tokio::test]
async fn past_max_backlog_bytes_events_are_refused() {
    let app = spawn_app_with_args(RedisServer::start(), &["--max-backlog-bytes", "20000"]).await;
    // Few events, but large ones: the count limit (1,000,000) is far away.
    let large = with(page_view(), "path", json!(format!("/{}", "p".repeat(2000))));
    assert_eq!(app.post_json("/v1/events", &large).await.status(), 202);
    let refused = test_support::eventually(
        "the backlog's bytes to be noticed",
        Duration::from_secs(5),
        || async {
            let response = app.post_json("/v1/events", &large).await;
            (response.status() == 503).then_some(response)
        },
    )
    .await;
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["error"].as_str().expect("message").contains("bytes"),
        "{body}"
    );
    let accepted = app.stream_events().len();
    assert!(
        accepted < 40,
        "{accepted} events of 2 KB were let into a 20 kB backlog"
    );
}

#[tokio::test]
async fn without_memory_usage_the_count_limit_still_holds() {
    // A Redis that refuses MEMORY (renamed away here, as an ACL or a managed service may).
    let redis = RedisServer::start_with(&["--rename-command", "MEMORY", "\"\""]);
    let app = spawn_app_with_args(redis, &["--max-backlog", "3"]).await;
    for _ in 0..3 {
        assert_eq!(
            app.post_json("/v1/events", &page_view()).await.status(),
            202
        );
    }
    test_support::eventually(
        "the backlog to be noticed",
        Duration::from_secs(5),
        || async {
            (app.post_json("/v1/events", &page_view()).await.status() == 503).then_some(())
        },
    )
    .await;
    test_support::eventually(
        "the count to be read from Redis",
        Duration::from_secs(5),
        || async {
            let _: i64 = redis::cmd("XTRIM")
                .arg(crate::helpers::STREAM)
                .arg("MAXLEN")
                .arg(0)
                .query(&mut app.redis.connection())
                .ok()?;
            (app.post_json("/v1/events", &page_view()).await.status() == 202).then_some(())
        },
    )
    .await;
}
