//! The consumer binary against a real Redis and a real SQLite file: batching by size and by
//! time, the flush on SIGTERM, re-reading its own pending entries, dead letters, pub/sub,
//! the day rows rolled up in the background; several consumers on PostgreSQL ([`postgres`]).

mod faults;
mod helpers;
mod load;
mod postgres;

use std::time::Duration;

use helpers::{CHANNEL, TestConsumer, sample_event, wait_until};

const LONG: &str = "1h";

#[test]
fn a_batch_is_written_when_it_reaches_batch_size() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "5", "--batch-timeout", LONG]);
    consumer.append(5);
    wait_until("the first full batch", Duration::from_secs(10), || {
        consumer.stored() == 5
    });
    consumer.append(3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        consumer.stored(),
        5,
        "the 3 that trickle in wait for size or timeout"
    );
    assert_eq!(
        consumer.pending(),
        3,
        "only the committed batch is acknowledged"
    );
}

/// A backlog (more waiting than a batch holds) is committed in batches of up to ten times
/// BATCH_SIZE: the size bounds how long a trickle waits, not how fast a backlog drains.
#[test]
fn a_backlog_is_written_in_batches_larger_than_batch_size() {
    let mut consumer = TestConsumer::new();
    consumer.append(8);
    consumer.start(&["--batch-size", "5", "--batch-timeout", LONG]);
    wait_until("the whole backlog", Duration::from_secs(10), || {
        consumer.stored() == 8
    });
    wait_until("the acknowledgement", Duration::from_secs(5), || {
        consumer.pending() == 0
    });
}

#[test]
fn a_batch_is_written_batch_timeout_after_its_first_event() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "100", "--batch-timeout", "300ms"]);
    consumer.append(3);
    wait_until("the timed flush", Duration::from_secs(5), || {
        consumer.stored() == 3
    });
    wait_until("the acknowledgement", Duration::from_secs(5), || {
        consumer.pending() == 0
    });
}

#[test]
fn sigterm_writes_and_acknowledges_what_was_read_then_exits_0() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "1000", "--batch-timeout", LONG]);
    consumer.append(7);
    wait_until("the events to be read", Duration::from_secs(10), || {
        consumer.pending() == 7
    });
    assert_eq!(consumer.stored(), 0);
    consumer.signal("TERM");
    let status = consumer.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert_eq!(consumer.stored(), 7);
    assert_eq!(consumer.pending(), 0);
}

/// Under light load (events arriving all the time, the day roll-ups and the health listener
/// running), SIGTERM stops every task within seconds: what was read is stored and acknowledged,
/// what was not stays in the stream, so a restart stores every event exactly once.
#[test]
fn sigterm_under_load_exits_0_promptly_and_loses_nothing() {
    const ARGS: [&str; 4] = ["--batch-size", "20", "--batch-timeout", "200ms"];
    let mut consumer = TestConsumer::new();
    consumer.start(&ARGS);
    let mut appended = std::collections::HashSet::new();
    let started = std::time::Instant::now();
    while consumer.stored() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "too slow to store 100"
        );
        appended.extend(consumer.append(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    appended.extend(consumer.append(10));
    consumer.signal("TERM");
    let status = consumer.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        consumer.pending(),
        0,
        "entries read but left unacknowledged"
    );
    consumer.start(&ARGS);
    wait_until("every event to be stored", Duration::from_secs(20), || {
        consumer.stored_ids() == appended
    });
    assert_eq!(consumer.stored_twice(), 0);
    // Signalled before it listens, it would die of the signal before handling it.
    let health = format!("127.0.0.1:{}", consumer.health_port);
    wait_until("the health listener", Duration::from_secs(10), || {
        std::net::TcpStream::connect(&health).is_ok()
    });
    consumer.signal("TERM");
    assert!(consumer.wait(Duration::from_secs(10)).success());
}

#[test]
fn sigint_does_the_same() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "1000", "--batch-timeout", LONG]);
    consumer.append(2);
    wait_until("the events to be read", Duration::from_secs(10), || {
        consumer.pending() == 2
    });
    consumer.signal("INT");
    assert!(consumer.wait(Duration::from_secs(10)).success());
    assert_eq!(consumer.stored(), 2);
}

#[test]
fn events_appended_before_the_group_existed_are_not_skipped() {
    let mut consumer = TestConsumer::new();
    consumer.append(4);
    consumer.start(&["--batch-size", "4", "--batch-timeout", LONG]);
    wait_until("the backlog to be stored", Duration::from_secs(10), || {
        consumer.stored() == 4
    });
}

#[test]
fn after_a_kill_the_restarted_consumer_stores_its_pending_entries_once() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "1000", "--batch-timeout", LONG]);
    let sent = consumer.append(6);
    wait_until("the events to be read", Duration::from_secs(10), || {
        consumer.pending() == 6
    });
    consumer.signal("KILL");
    consumer.wait(Duration::from_secs(5));
    assert_eq!(
        consumer.stored(),
        0,
        "nothing was committed before the kill"
    );

    consumer.start(&["--batch-size", "1000", "--batch-timeout", "200ms"]);
    wait_until(
        "the pending entries to be stored",
        Duration::from_secs(10),
        || consumer.stored() == sent.len() as i64,
    );
    wait_until("the acknowledgement", Duration::from_secs(5), || {
        consumer.pending() == 0
    });
    assert_eq!(consumer.stored_twice(), 0);
}

#[test]
fn an_undecodable_entry_goes_to_the_dead_letters_and_does_not_block_the_rest() {
    let mut consumer = TestConsumer::new();
    consumer.append(1);
    consumer.append_raw("event", "{not json");
    consumer.append_raw("something", "else");
    consumer.append(2);
    consumer.start(&["--batch-size", "100", "--batch-timeout", "200ms"]);
    wait_until("the good events", Duration::from_secs(10), || {
        consumer.stored() == 3
    });
    wait_until("everything acknowledged", Duration::from_secs(5), || {
        consumer.pending() == 0
    });
    let dead = consumer.dead_letters();
    assert_eq!(dead.len(), 2);
    let fields = &dead[0];
    assert_eq!(fields["event"], "{not json");
    assert!(fields["reason"].contains("undecodable"), "{fields:?}");
}

#[test]
fn an_entry_ingestion_would_refuse_goes_to_the_dead_letters_with_the_reason() {
    let mut consumer = TestConsumer::new();
    // Decodable, but not what ingestion accepts: a hand-added entry making revenue negative,
    // and one with a year-1 time that would break every all-time series.
    let mut negative: serde_json::Value =
        serde_json::from_str(&helpers::sample_event().to_json()).expect("JSON");
    negative["event_type"] = "purchase".into();
    negative["order_amount"] = (-1_000_000).into();
    let mut ancient: serde_json::Value =
        serde_json::from_str(&helpers::sample_event().to_json()).expect("JSON");
    ancient["timestamp"] = "0001-01-01T00:00:00.000000Z".into();
    consumer.append_raw("event", &negative.to_string());
    consumer.append_raw("event", &ancient.to_string());
    consumer.append(1);
    consumer.start(&["--batch-size", "100", "--batch-timeout", "200ms"]);
    wait_until("the good event", Duration::from_secs(10), || {
        consumer.stored() == 1
    });
    wait_until("everything acknowledged", Duration::from_secs(5), || {
        consumer.pending() == 0
    });
    let dead = consumer.dead_letters();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead[0]["reason"].contains("order_amount"), "{dead:?}");
    assert!(dead[1]["reason"].contains("timestamp"), "{dead:?}");
}

#[test]
fn the_pubsub_source_stores_what_is_published() {
    let mut consumer = TestConsumer::new();
    consumer.start(&[
        "--source",
        "pubsub",
        "--batch-size",
        "3",
        "--batch-timeout",
        LONG,
    ]);
    let mut connection = consumer.redis.connection();
    wait_until("the subscription", Duration::from_secs(10), || {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query(&mut connection)
            .expect("NUMSUB");
        counts[0].1 == 1
    });
    for _ in 0..3 {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(sample_event().to_json())
            .query(&mut connection)
            .expect("PUBLISH");
    }
    wait_until("the published events", Duration::from_secs(10), || {
        consumer.stored() == 3
    });
    consumer.signal("TERM");
    assert!(consumer.wait(Duration::from_secs(10)).success());
}

#[test]
fn ended_days_are_rolled_up_in_the_background_once_nothing_is_written_to_them() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "1"]);
    // The sample events are of 2025-10-02, long over, but the consumer has just written to
    // that day (a backfill, say), so it waits a minute before rolling it up.
    consumer.append(2);
    wait_until("both events", Duration::from_secs(10), || {
        consumer.stored() == 2
    });
    std::thread::sleep(Duration::from_secs(6));
    assert!(consumer.day_rows("2025-10-02T00:00:00Z").is_empty());
    // A consumer that has written nothing to the day rolls it up at once: one day row for the
    // events' shop and one for all shops.
    consumer.signal("TERM");
    assert!(consumer.wait(Duration::from_secs(10)).success());
    consumer.start(&["--batch-size", "1"]);
    wait_until("the day rows", Duration::from_secs(20), || {
        consumer.day_rows("2025-10-02T00:00:00Z") == ["", "default"]
    });
}

/// RETENTION_DAYS: at start (and every hour) events older than that are deleted; their sums
/// stay in the rollups.
#[test]
fn retention_deletes_old_events_and_keeps_their_sums() {
    let mut consumer = TestConsumer::new();
    let now = chrono::Utc::now();
    let event = |days_ago: i64| {
        let value = serde_json::json!({"event_type": "page_view",
            "timestamp": (now - chrono::TimeDelta::days(days_ago)).to_rfc3339()});
        events_core::event::Event::from_json(value, now, events_core::event::new_event_id)
            .expect("valid")
    };
    let mut writer = events_core::store::Writer::open(&consumer.db_path).expect("opens");
    writer
        .insert_batch(&[event(40), event(31), event(2)])
        .expect("stores");
    drop(writer);
    consumer.start(&["--retention-days", "30"]);
    wait_until("the old events deleted", Duration::from_secs(10), || {
        consumer.stored() == 1
    });
    let connection = rusqlite::Connection::open(&consumer.db_path).expect("opens");
    let summed: i64 = connection
        .query_row(
            "SELECT page_views FROM rollups WHERE shop_id = '' AND dimension = '' AND grain = 3",
            [],
            |row| row.get(0),
        )
        .expect("all-time sums");
    assert_eq!(summed, 3, "the rollups keep the deleted events' sums");
}

#[test]
fn a_bad_setting_stops_the_binary_with_one_line_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_consumer"))
        .env("BATCH_TIMEOUT", "soon")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("BATCH_TIMEOUT"), "{stderr}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_consumer"))
        .env("BATCH_SIZE", "0")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BATCH_SIZE"));
}

#[test]
fn a_taken_health_port_stops_the_binary_with_one_line_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = taken.local_addr().expect("address").to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_consumer"))
        .env("CONSUMER_METRICS_ADDR", &address)
        .env("RUST_LOG", "off")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CONSUMER_METRICS_ADDR") && stderr.contains(&address),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn metrics_show_batches_backlog_and_pending() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "5", "--batch-timeout", "100ms"]);
    consumer.append(5);
    wait_until("the batch", Duration::from_secs(10), || {
        consumer.stored() == 5
    });
    let url = format!("http://127.0.0.1:{}/metrics", consumer.health_port);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut text = String::new();
    wait_until("the gauges", Duration::from_secs(10), || {
        text = runtime.block_on(async {
            reqwest::get(&url)
                .await
                .expect("sent")
                .text()
                .await
                .expect("text")
        });
        text.contains("consumer_pending")
    });
    for name in [
        "consumer_events_stored_total 5",
        "consumer_batch_size_events_bucket",
        "consumer_flush_duration_seconds_bucket",
        "consumer_stream_backlog",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}
