//! Breaking things on purpose: every test ends by checking, in numbers, that the events
//! answered 202 are exactly the events stored, none twice.

use std::time::Duration;

use serde_json::Value;
use test_support::{RedisServer, eventually};

use crate::helpers::{DEAD_LETTERS, STREAM, TestConsumer, sample_event};
use crate::load::{send_until_accepted, start_ingestion};

const FAST: [&str; 4] = ["--batch-size", "50", "--batch-timeout", "100ms"];

/// Waits until the store holds every accepted event and nothing is left pending, then checks
/// that the stored ids are exactly the accepted ones.
async fn assert_stored_exactly(
    consumer: &TestConsumer,
    accepted: &std::collections::HashSet<String>,
) {
    eventually(
        "every accepted event to be stored",
        Duration::from_secs(60),
        || async { (consumer.stored() >= accepted.len() as i64).then_some(()) },
    )
    .await;
    eventually("nothing left pending", Duration::from_secs(30), || async {
        (consumer.pending() == 0).then_some(())
    })
    .await;
    assert_eq!(consumer.stored(), accepted.len() as i64, "rows stored");
    assert_eq!(
        &consumer.stored_ids(),
        accepted,
        "stored ids differ from the ids answered 202"
    );
}

/// Waits until the consumer's `/ready` answers `status`, and returns the body.
async fn wait_for_readiness(consumer: &TestConsumer, status: u16, what: &str) -> Value {
    let (_, body) = eventually(what, Duration::from_secs(30), || async {
        readiness(consumer)
            .await
            .filter(|(answered, _)| *answered == status)
    })
    .await;
    body
}

async fn readiness(consumer: &TestConsumer) -> Option<(u16, Value)> {
    let url = format!("http://127.0.0.1:{}/ready", consumer.health_port);
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_consumer_several_times_under_load_loses_and_doubles_nothing() {
    let mut consumer = TestConsumer::new();
    let ingestion = start_ingestion(&consumer.redis.url(), &[]).await;
    consumer.start(&FAST);
    let load =
        tokio::spawn(
            async move { send_until_accepted(ingestion.url.clone(), "kill", 4000, 8).await },
        );
    let mut kills = 0;
    while kills < 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if load.is_finished() {
            break;
        }
        consumer.signal("KILL");
        consumer.wait(Duration::from_secs(5));
        kills += 1;
        consumer.start(&FAST);
    }
    assert!(
        kills >= 3,
        "the load ended after {kills} kills: make it longer"
    );
    let sent = load.await.expect("load");
    assert_stored_exactly(&consumer, &sent.accepted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_redis_with_an_append_only_file_loses_no_acknowledged_event() {
    let redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]);
    let mut consumer = TestConsumer::with_redis(redis);
    let ingestion = start_ingestion(&consumer.redis.url(), &["--redis-timeout", "300ms"]).await;
    consumer.start(&[
        "--batch-size",
        "50",
        "--batch-timeout",
        "100ms",
        "--redis-timeout",
        "300ms",
    ]);
    let load =
        tokio::spawn(
            async move { send_until_accepted(ingestion.url.clone(), "aof", 1500, 4).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !load.is_finished(),
        "the load ended before Redis was killed: make it longer"
    );
    consumer.redis.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        consumer.is_running(),
        "the consumer must outlive a Redis outage"
    );
    consumer.redis.restart();
    let sent = load.await.expect("load");
    assert!(
        sent.refusals > 0,
        "the outage should have refused some requests"
    );
    assert_stored_exactly(&consumer, &sent.accepted).await;
    assert!(consumer.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_store_is_retried_reported_and_never_acknowledged_early() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "10", "--batch-timeout", "100ms"]);
    wait_for_readiness(&consumer, 200, "the consumer to be ready").await;
    let lock = rusqlite::Connection::open(&consumer.db_path).expect("opens");
    lock.execute_batch("BEGIN EXCLUSIVE")
        .expect("locks the store");
    let sent: std::collections::HashSet<String> = consumer.append(5).into_iter().collect();

    let body = wait_for_readiness(&consumer, 503, "readiness to report the store").await;
    assert!(
        body["error"].as_str().expect("reason").contains("store"),
        "{body}"
    );
    assert_eq!(
        consumer.pending(),
        5,
        "nothing is acknowledged before it is stored"
    );

    lock.execute_batch("COMMIT").expect("unlocks");
    assert_stored_exactly(&consumer, &sent).await;
    wait_for_readiness(&consumer, 200, "readiness to recover").await;
}

/// Deleting the store file under a running consumer used to lose every event it then
/// acknowledged (SQLite kept writing into the unlinked file): now nothing more is
/// acknowledged and readiness names the cause.
#[tokio::test]
async fn a_store_file_deleted_under_the_consumer_stops_acknowledgements() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "10", "--batch-timeout", "100ms"]);
    wait_for_readiness(&consumer, 200, "the consumer to be ready").await;
    let first: std::collections::HashSet<String> = consumer.append(3).into_iter().collect();
    assert_stored_exactly(&consumer, &first).await;
    std::fs::remove_file(&consumer.db_path).expect("deletes the store");
    consumer.append(5);
    let body = wait_for_readiness(&consumer, 503, "readiness to report the store").await;
    assert!(
        body["error"].as_str().expect("reason").contains("deleted"),
        "{body}"
    );
    assert_eq!(
        consumer.pending(),
        5,
        "nothing is acknowledged into a deleted file"
    );
}

#[tokio::test]
async fn entries_left_pending_by_a_dead_consumer_are_claimed() {
    let mut consumer = TestConsumer::new();
    let sent: std::collections::HashSet<String> = consumer.append(5).into_iter().collect();
    // A consumer named "ghost" reads them and dies without acknowledging.
    consumer.create_group();
    consumer.read_as("ghost", ">");
    consumer.start(&[
        "--batch-size",
        "10",
        "--batch-timeout",
        "100ms",
        "--claim-idle",
        "300ms",
    ]);
    assert_stored_exactly(&consumer, &sent).await;
}

#[tokio::test]
async fn an_entry_delivered_too_often_becomes_a_dead_letter_with_its_count() {
    let mut consumer = TestConsumer::new();
    consumer.append(1);
    consumer.create_group();
    // As if it had crashed "test-consumer" three times before being stored.
    for start in [">", "0", "0"] {
        consumer.read_as("test-consumer", start);
    }
    let good: std::collections::HashSet<String> = consumer.append(2).into_iter().collect();
    consumer.start(&[
        "--batch-size",
        "10",
        "--batch-timeout",
        "100ms",
        "--max-deliveries",
        "3",
    ]);
    assert_stored_exactly(&consumer, &good).await;
    let dead = consumer.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["deliveries"], "4");
    assert!(
        dead[0]["reason"].contains("delivered 4 times"),
        "{:?}",
        dead[0]
    );
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed_by_the_operator() {
    let mut consumer = TestConsumer::new();
    // A letter whose cause has been fixed: it holds a valid event now.
    let event = sample_event();
    let mut connection = consumer.redis.connection();
    let _: String = redis::cmd("XADD")
        .arg(DEAD_LETTERS)
        .arg("*")
        .arg("event")
        .arg(event.to_json())
        .arg("reason")
        .arg("the store refused it: disk full")
        .arg("deliveries")
        .arg(1)
        .arg("source_id")
        .arg("1-1")
        .query(&mut connection)
        .expect("XADD");
    let consumer_cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args(["--redis-url", &consumer.redis.url(), "dead-letters"])
            .args(args)
            .output()
            .expect("runs")
    };
    let listed = consumer_cli(&["list"]);
    assert!(listed.status.success());
    let line: Value =
        serde_json::from_slice(listed.stdout.split(|b| *b == b'\n').next().expect("a line"))
            .expect("JSON");
    assert_eq!(line["reason"], "the store refused it: disk full");
    assert_eq!(line["deliveries"], 1);
    assert_eq!(line["source_id"], "1-1");

    let replayed = consumer_cli(&["replay", "--all"]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let remaining: i64 = redis::cmd("XLEN")
        .arg(DEAD_LETTERS)
        .query(&mut connection)
        .expect("XLEN");
    assert_eq!(remaining, 0);
    consumer.start(&["--batch-size", "10", "--batch-timeout", "100ms"]);
    assert_stored_exactly(&consumer, &[event.event_id].into_iter().collect()).await;
}

#[tokio::test]
async fn the_stream_is_trimmed_behind_acknowledgements_only() {
    let mut consumer = TestConsumer::new();
    let sent: std::collections::HashSet<String> = consumer.append(300).into_iter().collect();
    consumer.start(&["--batch-size", "100", "--batch-timeout", "100ms"]);
    assert_stored_exactly(&consumer, &sent).await;
    eventually(
        "the stream to be trimmed",
        Duration::from_secs(10),
        || async { (consumer.stream_length() <= 1).then_some(()) },
    )
    .await;
    // Unacknowledged entries stay: stop the consumer with a batch in hand.
    consumer.signal("KILL");
    consumer.wait(Duration::from_secs(5));
    consumer.start(&["--batch-size", "1000", "--batch-timeout", "1h"]);
    consumer.append(20);
    eventually(
        "the new entries to be read",
        Duration::from_secs(10),
        || async { (consumer.pending() == 20).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        consumer.stream_length() >= 20,
        "pending entries must never be trimmed"
    );
}

#[tokio::test]
async fn an_event_the_store_refuses_becomes_a_dead_letter_and_the_rest_are_stored() {
    let mut consumer = TestConsumer::new();
    consumer.start(&["--batch-size", "10", "--batch-timeout", "100ms"]);
    wait_for_readiness(&consumer, 200, "the store to exist").await;
    // A store that refuses one product, as a data problem would.
    let connection = rusqlite::Connection::open(&consumer.db_path).expect("opens");
    connection
        .execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.product_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poison product'); END;",
        )
        .expect("trigger");
    let mut good: std::collections::HashSet<String> = consumer.append(3).into_iter().collect();
    let mut poison = sample_event();
    poison.product_id = Some("poison".into());
    let mut redis = consumer.redis.connection();
    let _: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg("*")
        .arg("event")
        .arg(poison.to_json())
        .query(&mut redis)
        .expect("XADD");
    good.extend(consumer.append(2));

    assert_stored_exactly(&consumer, &good).await;
    let dead = consumer.dead_letters();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["reason"].contains("poison product"),
        "{:?}",
        dead[0]
    );
    assert!(dead[0]["event"].contains(&poison.event_id));
}

/// A tmpfs of its own, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounting needs root (as in CI); elsewhere there is no small disk to fill.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_retried_reported_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("1m") else {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    };
    let mut consumer = TestConsumer::new();
    consumer.db_path = disk.dir.path().join("analytics.db");
    consumer.start(&["--batch-size", "200", "--batch-timeout", "100ms"]);
    wait_for_readiness(&consumer, 200, "the store to exist").await;
    // About 2.5 MB of events for a 1 MB disk.
    let mut connection = consumer.redis.connection();
    let mut sent = std::collections::HashSet::new();
    for _ in 0..1000 {
        let mut event = sample_event();
        event.path = Some("/".repeat(2000));
        let _: String = redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg("event")
            .arg(event.to_json())
            .query(&mut connection)
            .expect("XADD");
        sent.insert(event.event_id);
    }
    let body = wait_for_readiness(&consumer, 503, "readiness to report the full store").await;
    assert!(
        body["error"].as_str().expect("reason").contains("full"),
        "{body}"
    );
    assert!(
        consumer.pending() > 0,
        "events not stored stay unacknowledged"
    );

    disk.grow("64m");
    assert_stored_exactly(&consumer, &sent).await;
    let dead: i64 = redis::cmd("XLEN")
        .arg(DEAD_LETTERS)
        .query(&mut connection)
        .expect("XLEN");
    assert_eq!(
        dead, 0,
        "a full disk is the store's failure, not the events'"
    );
}
