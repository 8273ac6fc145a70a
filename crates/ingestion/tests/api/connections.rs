//! Slow and idle clients cannot hold ingestion (docs/SECURITY.md): a connection whose headers take too
//! long, whose body stalls or that idles is closed, and past `MAX_CONNECTIONS` new ones are
//! closed at once while the process keeps serving. The limits are shortened here; the
//! defaults (10 s, 30 s, 60 s) are the same code with other numbers.

use std::time::{Duration, Instant};

use events_core::server::ConnectionLimits;
use test_support::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_configured};

const SHORT: Duration = Duration::from_millis(300);

async fn app_with(limits: ConnectionLimits, args: &[&str]) -> TestApp {
    spawn_app_configured(RedisServer::start(), args, |config| {
        config.connections.timeouts = Some(limits);
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connects")
}

/// Reads until the server closes the connection; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| (started.elapsed(), received))
}

#[tokio::test]
async fn a_connection_whose_headers_trickle_is_closed() {
    let limits = ConnectionLimits {
        header_read: SHORT,
        ..ConnectionLimits::default()
    };
    let app = app_with(limits, &[]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    assert!(
        closed_within(&mut stream, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection sending headers slowly is kept"
    );
}

#[tokio::test]
async fn a_connection_whose_body_stalls_is_closed() {
    let limits = ConnectionLimits {
        body_stall: SHORT,
        ..ConnectionLimits::default()
    };
    let app = app_with(limits, &[]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"event_type\"",
        )
        .await
        .expect("writes");
    let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
    let (_, answer) = closed.expect("a connection whose body stalls is kept");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let limits = ConnectionLimits {
        idle: SHORT,
        ..ConnectionLimits::default()
    };
    let app = app_with(limits, &[]).await;
    let mut silent = connect(&app).await;
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that never sends is kept"
    );

    // After an answer, a kept-alive connection that goes quiet is closed too.
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let (_, answer) = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed after going quiet");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_and_service_goes_on() {
    let app = app_with(ConnectionLimits::default(), &["--max-connections", "2"]).await;
    let mut held = vec![connect(&app).await, connect(&app).await];
    // Both are accepted (and kept) before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection past MAX_CONNECTIONS is held"
    );
    for stream in &mut held {
        assert!(
            closed_within(stream, Duration::from_millis(100))
                .await
                .is_none(),
            "the connections within the limit stay open"
        );
    }
    // One goes: a new client is served.
    drop(held.pop());
    test_support::eventually(
        "a free place to be used",
        Duration::from_secs(5),
        || async {
            let client = reqwest::Client::new();
            let response = client
                .get(format!("{}/v1/health", app.address))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
}

/// Out of file descriptors (a limit below `MAX_CONNECTIONS`), ingestion keeps running, says so
/// once rather than in a loop, and serves again once connections go.
#[tokio::test]
async fn out_of_file_descriptors_it_waits_quietly_and_recovers() {
    let redis = RedisServer::start();
    let port = test_support::free_port();
    let metrics_port = test_support::free_port();
    let mut child = std::process::Command::new("prlimit")
        .args(["--nofile=64:64", "--"])
        .arg(env!("CARGO_BIN_EXE_ingestion"))
        .env("REDIS_URL", redis.url())
        .env("INGESTION_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "INGESTION_METRICS_ADDR",
            format!("127.0.0.1:{metrics_port}"),
        )
        // Keys are tested in keys.rs; this test is about descriptors alone.
        .env("AUTH", "off")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) starts ingestion");
    let url = format!("http://127.0.0.1:{port}/v1/health");
    test_support::eventually("ingestion to answer", Duration::from_secs(20), || async {
        let response = reqwest::get(&url).await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "ingestion exited"
    );
    drop(held);
    test_support::eventually(
        "ingestion to serve again",
        Duration::from_secs(30),
        || async {
            let client = reqwest::Client::new();
            let response = client.get(&url).send().await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("exits");
    let log = String::from_utf8_lossy(&output.stderr);
    let complaints = log
        .lines()
        .filter(|line| line.to_ascii_lowercase().contains("accept"))
        .count();
    assert!(
        complaints <= 1,
        "{complaints} lines about accepting in 3 s:\n{log}"
    );
}
