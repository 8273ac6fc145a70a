//! Load for the fault tests: the real ingestion service in this process, and a careful client
//! that retries each event (same `event_id`) until it is answered `202`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub struct Ingestion {
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for Ingestion {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn start_ingestion(redis_url: &str, args: &[&str]) -> Ingestion {
    let mut argv = vec!["ingestion", "--redis-url", redis_url, "--auth", "off"];
    argv.extend_from_slice(args);
    let config = ingestion::Config::parse_from(argv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let shutdown = CancellationToken::new();
    tokio::spawn(ingestion::serve(
        config,
        listener,
        metrics,
        shutdown.clone(),
    ));
    Ingestion { url, shutdown }
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Sent {
    /// Every event id that was answered 202.
    pub accepted: HashSet<String>,
    /// Answers other than 202 along the way (each followed by a retry).
    pub refusals: usize,
}

/// Sends `count` page views with ids `{prefix}-{n}` from `concurrency` tasks; each is retried
/// until ingestion answers 202, for at most a minute.
pub async fn send_until_accepted(
    url: String,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Sent {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (client, url, prefix) = (client.clone(), url.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut sent = Sent::default();
            for n in (task..count).step_by(concurrency) {
                let event_id = format!("{prefix}-{n}");
                let body = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
                    "product_id": format!("p-{}", n % 7), "event_id": event_id});
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let status = client
                        .post(format!("{url}/v1/events"))
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .ok();
                    if status == Some(202) {
                        break;
                    }
                    sent.refusals += 1;
                    assert!(
                        Instant::now() < deadline,
                        "event {event_id} never accepted (last: {status:?})"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                sent.accepted.insert(event_id);
            }
            sent
        }));
    }
    let mut all = Sent::default();
    for task in tasks {
        let sent = task.await.expect("load task");
        all.accepted.extend(sent.accepted);
        all.refusals += sent.refusals;
    }
    all
}
