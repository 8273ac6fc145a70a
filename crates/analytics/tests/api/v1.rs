//! The `/api/v1` endpoints (docs/API.md) over a real store through the real router: DST days, half-hour zones,
//! exact money, ordering, CSV and the live stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn at(event_type: &str, timestamp: &str) -> Value {
    json!({"event_type": event_type, "timestamp": timestamp})
}

fn with(mut event: Value, fields: Value) -> Value {
    if let (Some(event), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
        for (name, value) in fields {
            event.insert(name.clone(), value.clone());
        }
    }
    event
}

fn purchase(timestamp: &str, amount: f64, currency: Option<&str>) -> Value {
    let mut event =
        json!({"event_type": "purchase", "timestamp": timestamp, "order_amount": amount});
    if let Some(currency) = currency {
        event["currency"] = json!(currency);
    }
    event
}

#[tokio::test]
async fn the_summary_of_a_25_hour_berlin_day_compares_with_the_day_before() {
    let app = spawn_app().await;
    app.store(&[
        // 26 October 2025 in Berlin runs from 22:00Z on the 25th to 23:00Z on the 26th.
        at("page_view", "2025-10-25T22:00:00Z"),
        at("page_view", "2025-10-26T22:59:59Z"),
        with(
            at("add_to_cart", "2025-10-26T10:00:00Z"),
            json!({"session_id": "s1", "visitor_id": "v1"}),
        ),
        purchase("2025-10-26T11:00:00Z", 0.1, Some("EUR")),
        purchase("2025-10-26T11:00:00Z", 0.2, Some("EUR")),
        purchase("2025-10-26T12:00:00Z", 10.0, Some("USD")),
        purchase("2025-10-26T12:00:00Z", 1.005, None),
        at("page_view", "2025-10-26T23:00:00Z"),
        // The day before: one view.
        at("page_view", "2025-10-25T10:00:00Z"),
    ]);
    let (status, body) = app
        .get_json("/api/v1/summary?from=2025-10-26&to=2025-10-27&tz=Europe/Berlin&compare=previous")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "2025-10-26T00:00:00+02:00");
    assert_eq!(body["to"], "2025-10-27T00:00:00+01:00");
    let metrics = &body["metrics"];
    assert_eq!(metrics["page_views"], 2);
    assert_eq!(metrics["purchases"], 4);
    assert_eq!(metrics["revenue"], 11.31);
    assert_eq!(
        metrics["revenue_by_currency"],
        json!({"EUR": 0.3, "USD": 10.0, "XXX": 1.01})
    );
    assert_eq!(metrics["average_order_value"], 2.83);
    assert_eq!(metrics["conversion_rate"], 200.0);
    assert_eq!(metrics["cart_rate"], 50.0);
    assert_eq!(metrics["checkout_rate"], 400.0);
    assert_eq!(metrics["visitors"], 1);
    assert_eq!(metrics["sessions"], 1);
    assert_eq!(metrics["cart_abandonment_rate"], 100.0);
    assert_eq!(body["previous"]["page_views"], 1);
    assert_eq!(body["change"]["page_views"], 100.0);
    assert_eq!(body["change"]["purchases"], Value::Null);

    let (_, open) = app.get_json("/api/v1/summary?compare=previous").await;
    assert_eq!(open["previous"], Value::Null);
    assert_eq!(open["from"], Value::Null);
    assert_eq!(open["metrics"]["page_views"], 4);
}

#[tokio::test]
async fn daily_points_follow_local_midnight_across_the_autumn_change() {
    let app = spawn_app().await;
    app.store(&[
        at("page_view", "2025-10-25T22:30:00Z"),
        at("page_view", "2025-10-26T22:30:00Z"),
        at("page_view", "2025-10-26T23:30:00Z"),
        with(
            purchase("2025-10-27T12:00:00Z", 5.0, None),
            json!({"visitor_id": "v"}),
        ),
    ]);
    let (status, body) = app
        .get_json("/api/v1/timeseries?interval=day&tz=Europe/Berlin&from=2025-10-25&to=2025-10-29")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["interval"], "day");
    assert_eq!(body["tz"], "Europe/Berlin");
    let points = body["points"].as_array().expect("points");
    let times: Vec<&str> = points.iter().map(|p| p["t"].as_str().expect("t")).collect();
    assert_eq!(
        times,
        [
            "2025-10-25T00:00:00+02:00",
            "2025-10-26T00:00:00+02:00",
            "2025-10-27T00:00:00+01:00",
            "2025-10-28T00:00:00+01:00"
        ]
    );
    let views: Vec<u64> = points
        .iter()
        .map(|p| p["page_views"].as_u64().expect("n"))
        .collect();
    assert_eq!(views, [0, 2, 1, 0]);
    assert_eq!(points[2]["revenue"], 5.0);
    assert_eq!(points[2]["visitors"], 1);
    assert_eq!(
        points[3],
        json!({"t": "2025-10-28T00:00:00+01:00", "page_views": 0, "add_to_carts": 0, "purchases": 0, "revenue": 0.0, "visitors": 0})
    );
}

#[tokio::test]
async fn hours_in_half_and_three_quarter_hour_zones_start_at_local_hours() {
    let app = spawn_app().await;
    app.store(&[
        // 15:29 and 15:31 in Kolkata (+05:30) are in its 15:00 hour, 16:05 in the next.
        at("page_view", "2025-10-02T09:59:00Z"),
        at("page_view", "2025-10-02T10:01:00Z"),
        at("page_view", "2025-10-02T10:35:00Z"),
    ]);
    let (_, body) = app
        .get_json("/api/v1/timeseries?interval=hour&tz=Asia/Kolkata&from=2025-10-02T15:00:00%2B05:30&to=2025-10-02T17:00:00%2B05:30")
        .await;
    let points = body["points"].as_array().expect("points");
    assert_eq!(points[0]["t"], "2025-10-02T15:00:00+05:30");
    assert_eq!(points[0]["page_views"], 2);
    assert_eq!(points[1]["t"], "2025-10-02T16:00:00+05:30");
    assert_eq!(points[1]["page_views"], 1);

    let (_, kathmandu) = app
        .get_json("/api/v1/timeseries?interval=day&tz=Asia/Kathmandu")
        .await;
    let points = kathmandu["points"].as_array().expect("points");
    assert_eq!(points.len(), 1, "{kathmandu}");
    assert_eq!(points[0]["t"], "2025-10-02T00:00:00+05:45");
    assert_eq!(points[0]["page_views"], 3);

    let (_, st_johns) = app
        .get_json("/api/v1/summary?tz=America/St_Johns&from=2025-10-02&to=2025-10-03")
        .await;
    // St. John's is at -02:30 in October: the day starts at 02:30Z.
    assert_eq!(st_johns["metrics"]["page_views"], 3);
    assert_eq!(st_johns["from"], "2025-10-02T00:00:00-02:30");
}

#[tokio::test]
async fn products_rank_by_the_metric_then_by_id_in_byte_order() {
    let app = spawn_app().await;
    let t = "2025-10-02T10:00:00Z";
    let view = |product: &str| with(at("page_view", t), json!({"product_id": product}));
    let mut paid = purchase(t, 20.0, None);
    paid["product_id"] = json!("b");
    app.store(&[
        view("b"),
        view("a"),
        view("B"),
        view("c"),
        view("c"),
        paid,
        at("page_view", t),
    ]);
    let (status, body) = app.get_json("/api/v1/products").await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["products"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["product_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["c", "B", "a", "b"]);
    assert_eq!(body["total"], 4);
    let (_, by_revenue) = app.get_json("/api/v1/products?sort=revenue&limit=1").await;
    assert_eq!(
        by_revenue["products"],
        json!([{"product_id": "b", "page_views": 1, "add_to_carts": 0, "purchases": 1, "revenue": 20.0, "conversion_rate": 100.0}])
    );
    let (_, page) = app.get_json("/api/v1/products?limit=2&offset=3").await;
    assert_eq!(page["products"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn the_session_funnel_counts_only_steps_in_order() {
    let app = spawn_app().await;
    let step = |kind: &str, minute: u32, session: &str, product: &str| {
        let mut event = with(
            at(kind, &format!("2025-10-02T10:{minute:02}:00Z")),
            json!({"session_id": session, "product_id": product}),
        );
        if kind == "purchase" {
            event["order_amount"] = json!(1.0);
        }
        event
    };
    app.store(&[
        step("page_view", 1, "in-order", "p"),
        step("add_to_cart", 2, "in-order", "p"),
        step("purchase", 3, "in-order", "p"),
        step("add_to_cart", 1, "backwards", "p"),
        step("page_view", 2, "backwards", "p"),
        step("page_view", 1, "other", "q"),
        step("add_to_cart", 2, "other", "q"),
    ]);
    let (status, sessions) = app.get_json("/api/v1/funnel?by=sessions").await;
    assert_eq!(status, 200, "{sessions}");
    let counts: Vec<u64> = sessions["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["count"].as_u64().expect("n"))
        .collect();
    assert_eq!(counts, [3, 2, 1]);
    assert_eq!(sessions["steps"][1]["rate_from_previous"], 66.67);
    assert_eq!(sessions["steps"][2]["rate_from_first"], 33.33);
    let (_, product) = app
        .get_json("/api/v1/funnel?by=sessions&product_id=p")
        .await;
    assert_eq!(product["steps"][1]["count"], 1);
    let (_, events) = app.get_json("/api/v1/funnel").await;
    assert_eq!(events["by"], "events");
    assert_eq!(
        events["steps"][0],
        json!({"step": "page_view", "count": 3, "rate_from_previous": 100.0, "rate_from_first": 100.0})
    );
}

#[tokio::test]
async fn realtime_covers_the_last_thirty_minutes() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let ago = |minutes: i64| (now - chrono::TimeDelta::minutes(minutes)).to_rfc3339();
    app.store(&[
        with(
            at("page_view", &ago(0)),
            json!({"product_id": "now", "visitor_id": "v"}),
        ),
        with(
            at("page_view", &ago(5)),
            json!({"product_id": "now", "visitor_id": "w"}),
        ),
        at("page_view", &ago(45)),
    ]);
    let (status, body) = app.get_json("/api/v1/realtime").await;
    assert_eq!(status, 200, "{body}");
    let per_minute = body["per_minute"].as_array().expect("list");
    assert_eq!(per_minute.len(), 30);
    assert_eq!(body["page_views"], 2);
    assert_eq!(body["visitors"], 2);
    assert_eq!(
        per_minute
            .iter()
            .map(|v| v.as_u64().expect("n"))
            .sum::<u64>(),
        2
    );
    assert_eq!(
        body["top_products"],
        json!([{"product_id": "now", "page_views": 2}])
    );
}

#[tokio::test]
async fn shops_list_event_times_in_the_zone() {
    let app = spawn_app().await;
    app.store(&[
        with(
            at("page_view", "2025-10-02T10:00:00Z"),
            json!({"shop_id": "b"}),
        ),
        with(
            at("page_view", "2025-10-02T12:00:00Z"),
            json!({"shop_id": "b"}),
        ),
        at("page_view", "2025-10-01T08:00:00Z"),
    ]);
    let (_, body) = app.get_json("/api/v1/shops?tz=Asia/Kolkata").await;
    assert_eq!(
        body,
        json!({"shops": [
            {"shop_id": "b", "events": 2, "bot_events": 0, "first_seen": "2025-10-02T15:30:00+05:30", "last_seen": "2025-10-02T17:30:00+05:30"},
            {"shop_id": "default", "events": 1, "bot_events": 0, "first_seen": "2025-10-01T13:30:00+05:30", "last_seen": "2025-10-01T13:30:00+05:30"}
        ]})
    );
    let (_, ranged) = app.get_json("/api/v1/shops?from=2025-10-02").await;
    assert_eq!(ranged["shops"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn the_csv_export_is_safe_to_open_in_a_spreadsheet() {
    let app = spawn_app().await;
    let mut evil = with(
        at("page_view", "2025-10-02T10:00:00Z"),
        json!({"product_id": "=HYPERLINK(\"x\")", "path": "/a,b"}),
    );
    evil["event_id"] = json!("e1");
    let mut paid = purchase("2025-10-02T10:01:00Z", 99.99, Some("EUR"));
    paid["product_id"] = json!("@sum");
    app.store(&[evil, paid]);
    let response = app.get("/api/v1/export?dataset=events").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let text = response.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("event_id,event_type,timestamp"));
    assert!(
        lines[1].starts_with(
            "e1,page_view,2025-10-02T10:00:00.000000Z,default,\"'=HYPERLINK(\"\"x\"\")\""
        ),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(",\"/a,b\","));
    assert!(lines[2].contains(",'@sum,99.99,EUR,"), "{}", lines[2]);

    let products = app
        .get("/api/v1/export?dataset=products&sort=revenue")
        .await
        .text()
        .await
        .expect("body");
    assert!(products.starts_with("product_id,page_views"), "{products}");
    assert!(products.contains("'@sum,0,0,1,99.99,0"), "{products}");
    let series = app
        .get("/api/v1/export?dataset=timeseries&interval=hour&from=2025-10-02T10:00:00Z&to=2025-10-02T11:00:00Z")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        series.contains("2025-10-02T10:00:00+00:00,1,0,1,99.99,0"),
        "{series}"
    );
    for (query, parameter) in [
        ("dataset=all", "dataset"),
        ("dataset=events&interval=day", "interval"),
        ("from=soon", "from"),
    ] {
        let (status, body) = app.get_json(&format!("/api/v1/export?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["details"][0]["field"], parameter);
    }
}

#[tokio::test]
async fn the_live_stream_tells_when_events_are_stored() {
    let app = spawn_app().await;
    let mut response = app.get("/api/v1/live").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    app.store(&[
        with(
            at("page_view", "2025-10-02T10:00:00Z"),
            json!({"shop_id": "b"}),
        ),
        with(
            at("page_view", "2025-10-02T10:00:00Z"),
            json!({"shop_id": "a"}),
        ),
    ]);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !received.contains("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("a stored event in time")
            .expect("readable")
            .expect("still open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains("event: stored\n"), "{received}");
    assert!(
        received.contains(r#"data: {"count":2,"shop_ids":["a","b"]}"#),
        "{received}"
    );
}

#[tokio::test]
async fn a_replayed_batch_changes_no_answer() {
    let app = spawn_app().await;
    let mut batch = vec![purchase("2025-10-02T10:00:00Z", 5.0, None)];
    batch[0]["event_id"] = json!("once");
    app.store(&batch);
    app.store(&batch);
    let (_, body) = app.get_json("/api/v1/summary").await;
    assert_eq!(body["metrics"]["purchases"], 1);
    assert_eq!(body["metrics"]["revenue"], 5.0);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter_on_every_endpoint() {
    let app = spawn_app().await;
    for (path, parameter) in [
        ("/api/v1/summary?compare=next", "compare"),
        ("/api/v1/summary?tz=Moon/Base", "tz"),
        ("/api/v1/summary?shop_id=", "shop_id"),
        ("/api/v1/summary?from=2025-10-02&to=2025-10-02", "from"),
        ("/api/v1/timeseries?interval=year", "interval"),
        (
            "/api/v1/timeseries?interval=minute&from=2025-01-01&to=2025-02-01",
            "interval",
        ),
        ("/api/v1/products?sort=price", "sort"),
        ("/api/v1/products?limit=0", "limit"),
        ("/api/v1/products?limit=1001", "limit"),
        ("/api/v1/products?offset=-1", "offset"),
        ("/api/v1/funnel?by=people", "by"),
        ("/api/v1/realtime?from=2025-10-02", "from"),
        ("/api/v1/shops?bogus=1", "bogus"),
        ("/api/v1/live?shop_id=a%20b", "shop_id"),
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["details"][0]["field"], parameter, "{path}: {body}");
    }
}
