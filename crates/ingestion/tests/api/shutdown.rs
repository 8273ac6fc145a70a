//! SIGTERM under load: the binary stops accepting, answers the requests in flight, stops its
//! background tasks (the backlog watcher, the metrics listener) and exits 0 promptly, and every
//! event it answered `202` is in the stream.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{RedisServer, service};

use crate::helpers::STREAM;

#[tokio::test]
async fn sigterm_under_load_exits_0_promptly_and_every_accepted_event_is_in_the_stream() {
    let redis = RedisServer::start();
    let port = test_support::free_port();
    let mut child = service::quiet_command(env!("CARGO_BIN_EXE_ingestion"))
        .env("REDIS_URL", redis.url())
        .env("INGESTION_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "INGESTION_METRICS_ADDR",
            format!("127.0.0.1:{}", test_support::free_port()),
        )
        .spawn()
        .expect("ingestion starts");
    let base = format!("http://127.0.0.1:{port}");
    test_support::eventually("ingestion to answer", Duration::from_secs(20), || async {
        let response = reqwest::get(format!("{base}/v1/health")).await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;

    // Light load: four clients posting one event after another until the service is gone.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let accepted = Arc::clone(&accepted);
            let url = format!("{base}/v1/events");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let event = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"});
                while let Ok(response) = client.post(&url).json(&event).send().await {
                    if response.status() == 202 {
                        let body: Value = response.json().await.expect("JSON");
                        let id = body["event_id"].as_str().expect("an id").to_owned();
                        accepted.lock().expect("lock").push(id);
                    }
                }
            })
        })
        .collect();
    test_support::eventually(
        "some events to be accepted",
        Duration::from_secs(20),
        || {
            let count = accepted.lock().expect("lock").len();
            async move { (count >= 50).then_some(()) }
        },
    )
    .await;

    let status = service::terminate(&mut child, "ingestion").await;
    assert!(status.success(), "exit status {status}");
    for sender in senders {
        sender.await.expect("sender");
    }

    let mut connection = redis.connection();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(STREAM)
        .arg("-")
        .arg("+")
        .query(&mut connection)
        .expect("XRANGE");
    let in_stream: HashSet<String> = entries
        .iter()
        .map(|(_, fields)| {
            let event: Value = serde_json::from_str(&fields[0].1).expect("JSON");
            event["event_id"].as_str().expect("an id").to_owned()
        })
        .collect();
    let accepted = accepted.lock().expect("lock").clone();
    assert!(accepted.len() >= 50);
    let lost: Vec<&String> = accepted
        .iter()
        .filter(|id| !in_stream.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} accepted events are not in the stream",
        lost.len()
    );
}
