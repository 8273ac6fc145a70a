//! Analytics on the internet (docs/SECURITY.md): static files only from inside `DASHBOARD_DIR`, a cap
//! on live streams, and heavy queries that neither exhaust memory nor crowd out the rest.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use events_core::event::{Event, new_event_id};
use events_core::store::Writer;
use serde_json::json;

use crate::helpers::{spawn_app_configured, spawn_app_with_args, spawn_app_with_dashboard};

#[tokio::test]
async fn static_files_are_served_only_from_inside_the_dashboard_dir() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("secret.txt"), "outside secret").expect("writes");
    let dist = tempfile::tempdir().expect("temp dir");
    std::fs::write(dist.path().join("index.html"), "<html>dashboard</html>").expect("writes");
    std::fs::create_dir(dist.path().join("assets")).expect("creates");
    std::fs::write(dist.path().join("assets/app.js"), "app()").expect("writes");
    std::fs::write(dist.path().join(".env"), "SECRET=1").expect("writes");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dist.path().join("leak.txt"),
    )
    .expect("symlinks");
    std::os::unix::fs::symlink(outside.path(), dist.path().join("out")).expect("symlinks");
    let app = spawn_app_with_dashboard(dist.path()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| client.get(format!("{}{path}", app.address)).send();

    let served = get("/assets/app.js").await.expect("sent");
    assert_eq!(served.status(), 200);
    assert_eq!(served.text().await.expect("text"), "app()");
    for path in [
        "/leak.txt",
        "/out/secret.txt",
        "/.env",
        "/%2eenv",
        "/assets/../.env",
    ] {
        let response = get(path).await.expect("sent");
        let status = response.status();
        let body = response.text().await.expect("text");
        assert!(
            !body.contains("secret") && !body.contains("SECRET"),
            "{path}: {status} {body}"
        );
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    // `//assets` must not redirect to `//assets/`, which a browser reads as a host.
    let response = get("//assets").await.expect("sent");
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("text").to_owned());
    assert!(
        location.as_deref().is_none_or(|l| !l.starts_with("//")),
        "{location:?}"
    );
    // A directory asked without its slash still redirects, on this host.
    let response = get("/assets").await.expect("sent");
    if let Some(location) = response.headers().get("location") {
        assert_eq!(location, "/assets/");
    }
}

#[tokio::test]
async fn live_streams_past_max_live_streams_are_503_with_retry_after() {
    let app = spawn_app_with_args(&["--max-live-streams", "2"]).await;
    let open = || {
        app.client
            .get(format!("{}/api/v1/live", app.address))
            .timeout(Duration::from_secs(60))
            .send()
    };
    let first = open().await.expect("sent");
    let second = open().await.expect("sent");
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let refused = open().await.expect("sent");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    drop(first);
    test_support::eventually(
        "a stream place to be free",
        Duration::from_secs(5),
        || async {
            let response = open().await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    drop(second);
}

#[tokio::test]
async fn a_request_waiting_too_long_for_a_query_slot_is_503_with_retry_after() {
    // One slot, held by a live CSV export whose client does not read; the next query waits
    // its (shortened) turn, then is told to come back.
    let app = spawn_app_configured(
        std::path::Path::new("/nonexistent"),
        &["--max-queries", "1"],
        |config| config.query_wait = Some(Duration::from_millis(300)),
    )
    .await;
    load(&app.db_path, 60_000);
    let export = app
        .client
        .get(format!("{}/api/v1/export?dataset=events", app.address))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("sent");
    assert_eq!(export.status(), 200);
    let (status, _) = app.get_json("/api/v1/summary").await;
    assert_eq!(status, 503);
    let response = app.get("/api/v1/summary").await;
    assert!(response.headers().contains_key("retry-after"));
    drop(export);
    test_support::eventually(
        "the slot to be given back",
        Duration::from_secs(10),
        || async { (app.get("/api/v1/summary").await.status() == 200).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn sixty_four_heavy_queries_keep_memory_bounded_and_others_answered() {
    // The default on a two-core machine, set so the test means the same on a larger one.
    // With 64 slots (as good as no limit) the same test peaks near 290 MiB in a debug build.
    let app = spawn_app_with_args(&["--max-queries", "4"]).await;
    load(&app.db_path, 300_000);
    let baseline = rss_mib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watching = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_mib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let heavy: Vec<_> = (0..64)
        .map(|i| {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client");
            // Different ranges, so no answer is a copy of another.
            let url = format!(
                "{}/api/v1/funnel?by=sessions&from=2025-{:02}-01",
                app.address,
                1 + i % 9
            );
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Meanwhile health answers at once, and a light query gets its turn.
    let (status, _) = app.get_json("/api/health").await;
    assert_eq!(status, 200);
    let light = app
        .client
        .get(format!("{}/api/v1/shops", app.address))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("sent");
    // Answered: at its turn, or after waiting its 10 s with 503 and a time to come back.
    assert!(
        light.status() == 200
            || (light.status() == 503 && light.headers().contains_key("retry-after")),
        "{}",
        light.status()
    );
    let mut answered = 0;
    for task in heavy {
        let status = task.await.expect("task").expect("answered");
        assert!(status == 200 || status == 503, "{status}");
        answered += usize::from(status == 200);
    }
    watching.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(answered > 0, "no heavy query was answered");
    assert!(
        peak < 256,
        "analytics (in this test process) grew from {baseline} MiB to {peak} MiB"
    );
}

/// This process's resident memory in MiB (the app runs in-process).
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// `count` events over 2025 in sessions of a few steps, written straight through the store's
/// writer (as the consumer would), in batches.
fn load(db_path: &std::path::Path, count: usize) {
    let mut writer = Writer::open(db_path).expect("opens");
    let start = "2025-01-01T00:00:00Z"
        .parse::<chrono::DateTime<Utc>>()
        .expect("time");
    let received = Utc::now();
    let kinds = ["page_view", "page_view", "add_to_cart", "purchase"];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..count {
        let at = start + TimeDelta::seconds((i as i64) * 90);
        let kind = kinds[i % kinds.len()];
        let mut value = json!({
            "event_type": kind,
            "timestamp": events_core::event::format_utc(&at),
            "product_id": format!("p-{}", i % 500),
            "session_id": format!("s-{}", i / 4),
            "visitor_id": format!("v-{}", i / 12),
        });
        if kind == "purchase" {
            value["order_amount"] = json!(10.5);
        }
        batch.push(Event::from_json(value, received, new_event_id).expect("valid"));
        if batch.len() == 10_000 {
            writer.insert_batch(&batch).expect("stores");
            batch.clear();
        }
    }
    if !batch.is_empty() {
        writer.insert_batch(&batch).expect("stores");
    }
}

#[tokio::test]
async fn analytics_closes_slow_and_idle_connections_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = events_core::server::ConnectionLimits {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(300),
        ..Default::default()
    };
    let app = spawn_app_configured(std::path::Path::new("/nonexistent"), &[], |config| {
        config.connections.timeouts = Some(limits);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    for first_bytes in [&b""[..], &b"GET /api/health HTTP/1.1\r\nHost: x\r\n"[..]] {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connects");
        stream.write_all(first_bytes).await.expect("writes");
        let mut buffer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
        assert!(closed.is_ok(), "a slow or silent connection is kept");
    }
}
