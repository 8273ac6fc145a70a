//! SIGTERM under load: the binary ends its live streams, answers the queries in flight, stops
//! its background tasks (the live watcher, the metrics listener) and exits 0 promptly; no
//! query is answered with a server error on the way down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use test_support::service;

#[tokio::test]
async fn sigterm_under_load_ends_live_streams_and_exits_0_promptly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let address = format!("127.0.0.1:{}", test_support::free_port());
    let mut child = service::quiet_command(env!("CARGO_BIN_EXE_analytics"))
        .env("ANALYTICS_ADDR", &address)
        .env(
            "ANALYTICS_METRICS_ADDR",
            format!("127.0.0.1:{}", test_support::free_port()),
        )
        .env("DATABASE_URL", dir.path().join("analytics.db"))
        .env("DASHBOARD_DIR", "/nonexistent-dashboard")
        .spawn()
        .expect("analytics starts");
    let base = format!("http://{address}");
    test_support::eventually("analytics to be ready", Duration::from_secs(20), || async {
        let response = reqwest::get(format!("{base}/api/ready")).await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;

    let live = reqwest::get(format!("{base}/api/v1/live"))
        .await
        .expect("the live stream opens");
    assert_eq!(live.status(), 200);
    let live = tokio::spawn(async move {
        let mut live = live;
        while let Ok(Some(_)) = live.chunk().await {}
    });

    // Light load: three clients asking one question after another until the service is gone.
    let answered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (answered, failed) = (Arc::clone(&answered), Arc::clone(&failed));
            let url = format!("{base}/api/v1/summary?from=2025-10-01&to=2025-11-01");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while let Ok(response) = client.get(&url).send().await {
                    if response.status().is_server_error() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    test_support::eventually(
        "some queries to be answered",
        Duration::from_secs(20),
        || {
            let count = answered.load(Ordering::Relaxed);
            async move { (count >= 20).then_some(()) }
        },
    )
    .await;

    let status = service::terminate(&mut child, "analytics").await;
    assert!(status.success(), "exit status {status}");
    tokio::time::timeout(Duration::from_secs(5), live)
        .await
        .expect("the live stream ended with the service")
        .expect("reader");
    for client in clients {
        client.await.expect("client");
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "server errors on the way down"
    );
}
