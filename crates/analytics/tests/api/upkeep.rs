//! Keeping the store: `analytics backup PATH` (a copy that answers exactly as the store did),
//! `analytics forget` (answers as if the visitor never came), and retention (sums whole,
//! people from the horizon, and the summary says so).

use analytics::routes::summary;
use chrono::Utc;
use events_core::event::{Event, new_event_id};
use events_core::store::{Plan, Writer};
use rusqlite::Connection;
use serde_json::json;

fn backup(database: &std::path::Path, path: &std::path::Path) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .args(["backup"])
        .arg(path)
        .env("DATABASE_URL", database)
        .output()
        .expect("analytics runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_backup_answers_what_the_store_answered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("analytics.db");
    let mut writer = Writer::open(&database).expect("opens");
    let events: Vec<Event> = (0..50)
        .map(|n| {
            let event_type = ["page_view", "add_to_cart", "purchase"][n % 3];
            let value = json!({"event_type": event_type,
                "timestamp": "2025-10-02T10:30:00Z", "order_amount": 10.5,
                "session_id": format!("s{}", n % 4), "visitor_id": format!("v{}", n % 5),
                "product_id": format!("p{}", n % 3), "currency": "EUR"});
            Event::from_json(value, Utc::now(), new_event_id).expect("valid")
        })
        .collect();
    writer.insert_batch(&events).expect("stores");
    let copy = dir.path().join("copy.db");
    let (ok, out, err) = backup(&database, &copy);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with(&copy.display().to_string()), "{out}");
    assert!(last.ends_with(" bytes"), "{out}");
    let request =
        summary::SummaryRequest::parse(Some("from=2025-10-01&to=2025-10-03")).expect("valid");
    let answer = |path: &std::path::Path| {
        let connection = Connection::open(path).expect("opens");
        serde_json::to_value(
            summary::compute(&connection, &request, Plan::Rollup).expect("answers"),
        )
        .expect("json")
    };
    assert_eq!(answer(&copy), answer(&database));
    assert_eq!(answer(&copy)["metrics"]["purchases"], 16);
    // An existing file is never overwritten.
    let (ok, _, err) = backup(&database, &copy);
    assert!(!ok);
    assert!(err.contains("exists"), "{err}");
}

/// After `analytics forget`, every answer equals the answer over a store that never had the
/// visitor's events.
#[test]
fn after_forget_every_answer_is_as_if_the_visitor_never_came() {
    use analytics::routes::{breakdown, funnel, original, products, shops, timeseries};
    let dir = tempfile::tempdir().expect("temp dir");
    let events: Vec<serde_json::Value> = (0..120)
        .map(|n| {
            let event_type = ["page_view", "add_to_cart", "purchase"][n % 3];
            let time = format!("2025-10-{:02}T{:02}:{:02}:00Z", 1 + n % 9, n % 24, n % 60);
            // The visitor to forget made the largest purchases, so maxima must be rebuilt.
            // Only on the first three days, while their sessions go on: the sessions whose
            // landing page was the visitor's get another, on days the visitor never saw.
            let forgotten = n % 4 == 0 && n % 9 < 3;
            let visitor = if forgotten {
                "forget-me".to_owned()
            } else {
                format!("v{}", n % 5)
            };
            let (shop, currency) = [("a", "EUR"), ("b", "USD")][n % 2];
            let amount = if forgotten { 900.0 } else { 10.0 + n as f64 };
            json!({"event_type": event_type, "timestamp": time, "shop_id": shop,
                "order_amount": amount, "session_id": format!("s{}", n % 7),
                "visitor_id": visitor, "product_id": format!("p{}", n % 3), "currency": currency,
                "path": format!("/{}", n % 4)})
        })
        .collect();
    let store = |name: &str, keep: &dyn Fn(&serde_json::Value) -> bool| {
        let path = dir.path().join(name);
        let mut writer = Writer::open(&path).expect("opens");
        let batch: Vec<Event> = events
            .iter()
            .filter(|e| keep(e))
            .map(|e| Event::from_json(e.clone(), Utc::now(), new_event_id).expect("valid"))
            .collect();
        writer.insert_batch(&batch).expect("stores");
        while writer
            .roll_up_next_day(Utc::now().timestamp_micros(), std::time::Duration::ZERO)
            .expect("rolls up")
            .is_some()
        {}
        path
    };
    let forgotten = store("forgotten.db", &|_| true);
    let never = store("never.db", &|e| {
        !(e["visitor_id"] == "forget-me" && e["shop_id"] == "a")
    });
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .args(["forget", "--shop", "a", "--visitor-id", "forget-me"])
        .env("DATABASE_URL", &forgotten)
        .output()
        .expect("analytics runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().last(), Some("10"), "{stdout}");
    let answers = |path: &std::path::Path| -> Vec<serde_json::Value> {
        let c = Connection::open(path).expect("opens");
        let scope = "from=2025-10-02&to=2025-10-08&tz=Europe/Berlin";
        vec![
            serde_json::to_value(
                summary::compute(
                    &c,
                    &summary::SummaryRequest::parse(Some(scope)).expect("q"),
                    Plan::Rollup,
                )
                .expect("summary"),
            )
            .expect("json"),
            serde_json::to_value(
                original::compute(&c, &Default::default(), Plan::Rollup).expect("original"),
            )
            .expect("json"),
            serde_json::to_value(
                products::compute(
                    &c,
                    &products::ProductsRequest::parse(Some("sort=revenue")).expect("q"),
                    Plan::Rollup,
                )
                .expect("products"),
            )
            .expect("json"),
            serde_json::to_value(
                funnel::compute(
                    &c,
                    &funnel::FunnelRequest::parse(Some("by=sessions")).expect("q"),
                    Plan::Rollup,
                )
                .expect("funnel"),
            )
            .expect("json"),
            serde_json::to_value(
                timeseries::compute(
                    &c,
                    &timeseries::TimeseriesRequest::parse(Some(scope)).expect("q"),
                    Plan::Rollup,
                )
                .expect("series"),
            )
            .expect("json"),
            serde_json::to_value(
                shops::compute(
                    &c,
                    &summary::SummaryRequest::parse(None).expect("q").scope,
                    Plan::Rollup,
                )
                .expect("shops"),
            )
            .expect("json"),
            // The visitor's page views were some sessions' landing pages: the day rows per
            // value of those sessions' days must not keep them.
            serde_json::to_value(
                breakdown::compute(
                    &c,
                    &breakdown::BreakdownRequest::parse(Some(&format!(
                        "{scope}&dimension=landing_page&limit=100"
                    )))
                    .expect("q"),
                    Plan::Rollup,
                )
                .expect("breakdown"),
            )
            .expect("json"),
            serde_json::to_value(
                summary::compute(
                    &c,
                    &summary::SummaryRequest::parse(Some(&format!("{scope}&landing_page=/1")))
                        .expect("q"),
                    Plan::Rollup,
                )
                .expect("summary"),
            )
            .expect("json"),
        ]
    };
    assert_eq!(answers(&forgotten), answers(&never));
}

/// After retention, a range reaching before the horizon keeps its sums whole, counts people
/// from the horizon on, and says so with `people_since`; a range after it does not.
#[test]
fn a_summary_reaching_before_the_retention_horizon_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.db");
    let now = Utc::now();
    let mut writer = Writer::open(&path).expect("opens");
    let events: Vec<Event> = [(40, "old"), (2, "new")]
        .into_iter()
        .map(|(days_ago, visitor)| {
            let value = json!({"event_type": "page_view", "visitor_id": visitor,
                "timestamp": (now - chrono::TimeDelta::days(days_ago)).to_rfc3339()});
            Event::from_json(value, now, new_event_id).expect("valid")
        })
        .collect();
    writer.insert_batch(&events).expect("stores");
    let retained = writer
        .apply_retention(now.timestamp_micros(), 30)
        .expect("retains");
    let connection = Connection::open(&path).expect("opens");
    let ask = |query: &str| {
        let request = summary::SummaryRequest::parse(Some(query)).expect("valid");
        serde_json::to_value(
            summary::compute(&connection, &request, Plan::Rollup).expect("answers"),
        )
        .expect("json")
    };
    let all_time = ask("tz=UTC");
    assert_eq!(all_time["metrics"]["page_views"], 2, "{all_time}");
    assert_eq!(all_time["metrics"]["visitors"], 1, "{all_time}");
    let since = chrono::DateTime::from_timestamp_micros(retained.people_since).expect("time");
    assert_eq!(
        all_time["people_since"],
        json!(since.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
    );
    let recent = (now - chrono::TimeDelta::days(10)).date_naive();
    let after = ask(&format!("from={recent}"));
    assert!(after.get("people_since").is_none(), "{after}");
    assert_eq!(after["metrics"]["visitors"], 1);
}

/// A backup taken while a writer keeps committing, restored under a fresh analytics process,
/// answers every question exactly as a raw scan of the events it holds.
#[tokio::test]
async fn a_backup_taken_under_load_restores_into_a_fresh_analytics() {
    use analytics::routes::{funnel, products, shops, timeseries};
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("analytics.db");
    let mut writer = Writer::open(&database).expect("opens");
    writer.set_fold_rows(150);
    // The backup starts once some batches are committed, while the rest are being written
    // (a fixed sleep caught none on a loaded machine).
    let (committed, some_committed) = std::sync::mpsc::channel();
    let load = std::thread::spawn(move || {
        for batch in 0..40usize {
            let events: Vec<Event> = (0..100)
                .map(|n| {
                    let event_type = ["page_view", "add_to_cart", "purchase"][(batch + n) % 3];
                    let value = json!({"event_type": event_type,
                        "timestamp": format!("2025-10-{:02}T{:02}:{:02}:00Z", 1 + n % 5, n % 24, batch),
                        "order_amount": 1.25 * n as f64, "session_id": format!("s{}", n % 9),
                        "visitor_id": format!("v{}", n % 13), "product_id": format!("p{}", n % 4)});
                    Event::from_json(value, Utc::now(), new_event_id).expect("valid")
                })
                .collect();
            writer.insert_batch(&events).expect("stores");
            if batch == 3 {
                let _ = committed.send(());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    some_committed
        .recv()
        .expect("the load committed some batches");
    let copy = dir.path().join("copy.db");
    let (ok, _, err) = backup(&database, &copy);
    assert!(ok, "{err}");
    load.join().expect("the load finished");

    let address = format!("127.0.0.1:{}", test_support::free_port());
    let mut analytics = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .env("AUTH", "off")
        .env("DATABASE_URL", &copy)
        .env("ANALYTICS_ADDR", &address)
        .env(
            "ANALYTICS_METRICS_ADDR",
            format!("127.0.0.1:{}", test_support::free_port()),
        )
        .env("DASHBOARD_DIR", "/nonexistent-dashboard")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("analytics starts");
    let client = reqwest::Client::new();
    test_support::eventually(
        "the restored analytics to be ready",
        std::time::Duration::from_secs(20),
        || async {
            let response = client
                .get(format!("http://{address}/api/ready"))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;
    let get = |query: &'static str| {
        let client = client.clone();
        let url = format!("http://{address}{query}");
        async move {
            let response = client.get(url).send().await.expect("answers");
            assert_eq!(response.status(), 200, "{query}");
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let raw = Connection::open(&copy).expect("opens the copy");
    let scope = "from=2025-10-02&to=2025-10-05&tz=Europe/Berlin";
    let expected = [
        serde_json::to_value(
            summary::compute(
                &raw,
                &summary::SummaryRequest::parse(Some(scope)).expect("q"),
                Plan::Raw,
            )
            .expect("summary"),
        )
        .expect("json"),
        serde_json::to_value(
            products::compute(
                &raw,
                &products::ProductsRequest::parse(Some("sort=revenue")).expect("q"),
                Plan::Raw,
            )
            .expect("products"),
        )
        .expect("json"),
        serde_json::to_value(
            funnel::compute(
                &raw,
                &funnel::FunnelRequest::parse(Some("by=sessions")).expect("q"),
                Plan::Raw,
            )
            .expect("funnel"),
        )
        .expect("json"),
        serde_json::to_value(
            timeseries::compute(
                &raw,
                &timeseries::TimeseriesRequest::parse(Some(scope)).expect("q"),
                Plan::Raw,
            )
            .expect("series"),
        )
        .expect("json"),
        serde_json::to_value(
            shops::compute(
                &raw,
                &summary::SummaryRequest::parse(None).expect("q").scope,
                Plan::Raw,
            )
            .expect("shops"),
        )
        .expect("json"),
    ];
    let answered = [
        get("/api/v1/summary?from=2025-10-02&to=2025-10-05&tz=Europe/Berlin").await,
        get("/api/v1/products?sort=revenue").await,
        get("/api/v1/funnel?by=sessions").await,
        get("/api/v1/timeseries?from=2025-10-02&to=2025-10-05&tz=Europe/Berlin").await,
        get("/api/v1/shops").await,
    ];
    let _ = analytics.kill();
    let _ = analytics.wait();
    assert_eq!(answered, expected);
    let stored: i64 = raw
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .expect("counts");
    assert!(
        stored > 0 && stored % 100 == 0,
        "whole batches only: {stored}"
    );
}
