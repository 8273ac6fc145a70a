//! the same events give the same answers from either store. The same events are
//! stored in a SQLite file and in a private PostgreSQL cluster, each served by the real router,
//! and every endpoint's body is compared byte for byte.

use events_core::event::{Event, Traffic};
use serde_json::{Value, json};

use super::helpers::{spawn_app, spawn_app_on_postgres, spawn_app_on_postgres_with_args};

/// Three shops, products, currencies, sessions that reach the cart or buy, over five weeks
/// around the October DST change, with a retry and a repeated order.
fn events() -> Vec<Value> {
    let types = ["page_view", "page_view", "add_to_cart", "purchase"];
    let mut events: Vec<Value> = (0..400)
        .map(|i: usize| {
            let day = 1 + (i * 7) % 35;
            let (month, day) = if day > 31 { (11, day - 31) } else { (10, day) };
            let mut event = json!({
                "event_type": types[i % 4],
                "timestamp": format!("2025-{month:02}-{day:02}T{:02}:{:02}:07.{:06}Z",
                    (i * 5) % 24, (i * 11) % 60, i),
                "event_id": format!("e{i}"),
                "shop_id": format!("shop-{}", i % 3),
                "session_id": format!("s{}", i % 31),
                "visitor_id": format!("v{}", i % 13),
                "product_id": format!("p{}", i % 5),
                "path": format!("/p/{}", i % 7),
            });
            if i % 4 == 3 {
                event["order_amount"] = json!(((i * 37) % 200) as f64 + 0.05);
                event["currency"] = json!(if i % 8 == 3 { "EUR" } else { "USD" });
                event["order_id"] = json!(format!("o{}", i % 90));
            }
            event
        })
        .collect();
    // A retry (same event id, later time) and an undated-free duplicate batch.
    let mut retry = events[10].clone();
    retry["timestamp"] = json!("2025-11-02T00:00:01Z");
    events.push(retry);
    events
}

/// The events with the traffic fields ingestion derives (docs/API.md, "Where buyers come from"): each event its own, so a
/// session's attribution is its first stored event's, which arrives in a later batch for some;
/// every seventeenth event a bot's. The same values go to both stores (one `received_at`).
fn traffic_events() -> Vec<Event> {
    const CHANNELS: [&str; 4] = ["Direct", "Email", "Organic Search", "Paid Social"];
    events()
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let mut event =
                Event::from_json(value, chrono::Utc::now(), events_core::event::new_event_id)
                    .expect("valid event");
            let channel = CHANNELS[(i / 3) % 4];
            event.traffic = Traffic {
                source: (channel != "Direct").then(|| format!("src-{}", i % 3)),
                medium: (channel == "Email").then(|| "email".to_owned()),
                campaign: (i % 5 == 0).then(|| format!("c{}", i % 2)),
                referrer_domain: (channel == "Organic Search").then(|| "google.com".to_owned()),
                channel: Some(channel.to_owned()),
                device: Some(["desktop", "mobile"][i % 2].to_owned()),
                browser: Some(["Chrome", "Safari", "Firefox"][i % 3].to_owned()),
                os: Some(["Windows", "iOS"][(i / 2) % 2].to_owned()),
                country: (i % 6 != 0).then(|| ["DE", "US", "FR"][i % 3].to_owned()),
                is_bot: i % 17 == 0,
            };
            event
        })
        .collect()
}

const QUERIES: &[&str] = &[
    "/api/analytics",
    "/api/analytics?shop_id=shop-1&from=2025-10-05&to=2025-10-27&tz=Europe/Berlin",
    "/api/v1/summary",
    "/api/v1/summary?from=2025-10-06&to=2025-10-20&compare=previous&tz=America/New_York",
    "/api/v1/summary?shop_id=shop-2&from=2025-10-26T01:30:00Z&to=2025-11-03T00:00:00Z",
    "/api/v1/timeseries?interval=day&from=2025-10-01&to=2025-11-06&tz=Asia/Kolkata",
    "/api/v1/timeseries?interval=hour&from=2025-10-25&to=2025-10-27&tz=Europe/Berlin",
    "/api/v1/timeseries?interval=week&shop_id=shop-0",
    "/api/v1/timeseries?interval=month",
    "/api/v1/products?sort=revenue&limit=3",
    "/api/v1/products?sort=conversion_rate&from=2025-10-10&to=2025-10-30",
    "/api/v1/products?sort=page_views&shop_id=shop-1",
    "/api/v1/funnel",
    "/api/v1/funnel?product_id=p2&from=2025-10-03&to=2025-10-29&tz=Australia/Lord_Howe",
    "/api/v1/realtime",
    "/api/v1/shops",
    "/api/v1/shops?from=2025-10-20",
    "/api/v1/export?type=events",
    "/api/v1/export?type=events&shop_id=shop-2&from=2025-10-10&to=2025-10-20",
    "/api/v1/export?type=products&sort=revenue",
    "/api/v1/export?type=timeseries&interval=day",
    "/api/v1/summary?from=tomorrow",
    // Attribution: breakdowns, filtered reports, and the bots' count of /api/v1/shops above.
    "/api/v1/breakdown?dimension=channel",
    "/api/v1/breakdown?dimension=page&shop_id=shop-1&from=2025-10-05&to=2025-10-27",
    "/api/v1/breakdown?dimension=country&tz=Europe/Berlin&sort=revenue",
    "/api/v1/breakdown?dimension=landing_page&channel=Email",
    "/api/v1/breakdown?dimension=source&limit=2&offset=1",
    "/api/v1/summary?channel=Email&from=2025-10-06&to=2025-10-20&compare=previous",
    "/api/v1/summary?country=(none)&device=mobile",
    "/api/v1/summary?page=/p/3&shop_id=shop-0",
    "/api/v1/timeseries?interval=day&channel=Organic%20Search&tz=Asia/Kolkata",
    "/api/v1/products?sort=revenue&source=src-1",
    "/api/v1/funnel?browser=Safari",
    "/api/v1/export?dataset=events&channel=Paid%20Social",
    "/api/analytics?campaign=c0",
];

#[tokio::test]
async fn both_stores_answer_every_endpoint_byte_for_byte() {
    let server = test_support::PostgresServer::start();
    let sqlite = spawn_app().await;
    let postgres = spawn_app_on_postgres(&server.database()).await;
    assert_eq!(postgres.get("/api/ready").await.status(), 200);
    let events = traffic_events();
    for app in [&sqlite, &postgres] {
        for batch in events.chunks(64) {
            app.store_events(batch);
        }
        // A replayed batch changes nothing.
        app.store_events(&events[..64]);
    }
    for query in QUERIES {
        let (a, b) = (sqlite.get(query).await, postgres.get(query).await);
        assert_eq!(a.status(), b.status(), "{query}");
        let (a, b) = (
            a.bytes().await.expect("body"),
            b.bytes().await.expect("body"),
        );
        assert!(a.len() > 2, "{query}: an answer");
        assert!(
            a == b,
            "{query}:\n{}\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
    assert_eq!(postgres.get("/api/ready").await.status(), 200);
}

/// The live stream on PostgreSQL tells what was stored, per shop, as on SQLite.
#[tokio::test]
async fn the_live_stream_tells_when_events_are_stored_on_postgresql() {
    let server = test_support::PostgresServer::start();
    let app = spawn_app_on_postgres(&server.database()).await;
    // A shop that exists before the stream starts, and one that is new.
    app.store(&[
        json!({"event_type": "page_view", "timestamp": "2025-10-02T09:00:00Z", "shop_id": "a"}),
    ]);
    let mut response = app.get("/api/v1/live").await;
    assert_eq!(response.status(), 200);
    // Let the watcher see the store as it is before the new events (it may report the first
    // event on this stream: that message is read past below).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.store(&[
        json!({"event_type": "page_view", "timestamp": "2025-10-02T10:00:00Z", "shop_id": "b"}),
        json!({"event_type": "page_view", "timestamp": "2025-10-02T10:00:00Z", "shop_id": "a"}),
    ]);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !received.contains("\"b\"]}\n\n") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("a stored event in time")
            .expect("readable")
            .expect("still open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        received.ends_with("data: {\"count\":2,\"shop_ids\":[\"a\",\"b\"]}\n\n"),
        "{received}"
    );
}

/// `analytics forget` and `analytics backup` of the real binary on a PostgreSQL store.
#[test]
fn the_subcommands_work_on_postgresql() {
    let server = test_support::PostgresServer::start();
    let database = server.database();
    let events: Vec<events_core::event::Event> = [("forget-me", 3), ("stays", 2)]
        .iter()
        .flat_map(|(visitor, count)| {
            (0..*count).map(move |i| {
                events_core::event::Event::from_json(
                    json!({"event_type": "page_view", "shop_id": "a", "visitor_id": visitor,
                        "timestamp": format!("2025-10-02T10:0{i}:00Z")}),
                    chrono::Utc::now(),
                    events_core::event::new_event_id,
                )
                .expect("valid")
            })
        })
        .collect();
    let url = events_core::store::StoreUrl::parse(&database).expect("a URL");
    url.open_writer(events_core::store::Synchronous::Normal)
        .expect("opens")
        .insert_batch(&events)
        .expect("stores");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .args(["forget", "--shop", "a", "--visitor-id", "forget-me"])
        .env("DATABASE_URL", &database)
        .output()
        .expect("analytics runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "3");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("store.dump");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .arg("backup")
        .arg(&file)
        .env("DATABASE_URL", &database)
        .output()
        .expect("analytics runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(std::fs::metadata(&file).expect("written").len() > 0);
}

/// `DATABASE_READ_URL` sends the queries to a replica while migrations go to `DATABASE_URL`:
/// here the "replica" is a second database holding events the primary does not.
#[tokio::test]
async fn queries_read_from_database_read_url() {
    let server = test_support::PostgresServer::start();
    let (primary, replica) = (server.database(), server.database());
    let filled = spawn_app_on_postgres(&replica).await;
    filled.store(&[json!({"event_type": "page_view", "timestamp": "2025-10-02T09:00:00Z"})]);
    let app = spawn_app_on_postgres_with_args(&primary, &["--database-read-url", &replica]).await;
    let (status, body) = app.get_json("/api/analytics").await;
    assert_eq!(status, 200);
    assert_eq!(body["total_page_views"], 1, "read from the replica");
    // The primary was migrated by this analytics too, and holds nothing.
    let (_, primary_body) = spawn_app_on_postgres(&primary)
        .await
        .get_json("/api/analytics")
        .await;
    assert_eq!(primary_body["total_page_views"], 0);
}
