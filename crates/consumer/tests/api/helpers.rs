//! Runs the real `consumer` binary against a private redis-server and a temporary SQLite file.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use events_core::event::{Event, new_event_id};
use serde_json::json;
use test_support::RedisServer;

pub const STREAM: &str = "analytics:events:stream";
pub const CHANNEL: &str = "analytics:events";
pub const DEAD_LETTERS: &str = "analytics:events:dead";

pub struct TestConsumer {
    pub redis: RedisServer,
    pub db_path: PathBuf,
    /// Where the consumer answers `/health` and `/ready`.
    pub health_port: u16,
    _dir: tempfile::TempDir,
    process: Option<Child>,
}

impl TestConsumer {
    pub fn new() -> TestConsumer {
        TestConsumer::with_redis(RedisServer::start())
    }

    pub fn with_redis(redis: RedisServer) -> TestConsumer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestConsumer {
            redis,
            db_path: dir.path().join("analytics.db"),
            health_port: test_support::free_port(),
            _dir: dir,
            process: None,
        }
    }

    /// Whether the consumer process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(process) => process.try_wait().expect("waits").is_none(),
            None => false,
        }
    }

    /// The event ids in the store.
    pub fn stored_ids(&self) -> std::collections::HashSet<String> {
        if !self.db_path.exists() {
            return Default::default();
        }
        let connection = rusqlite::Connection::open(&self.db_path).expect("opens");
        let mut statement = connection
            .prepare("SELECT event_id FROM events")
            .expect("prepares");
        statement
            .query_map([], |row| row.get(0))
            .expect("queries")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Creates the consumer group as the consumer would, before it runs.
    pub fn create_group(&self) {
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(STREAM)
            .arg("analytics")
            .arg("0")
            .query(&mut self.redis.connection())
            .expect("XGROUP CREATE");
    }

    /// Reads entries through the group as consumer `name`, from `start` (`>` for new ones,
    /// `0` for its own pending ones), and forgets them, as a consumer that dies would.
    pub fn read_as(&self, name: &str, start: &str) {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("analytics")
            .arg(name)
            .arg("STREAMS")
            .arg(STREAM)
            .arg(start)
            .query(&mut self.redis.connection())
            .expect("XREADGROUP");
    }

    /// The dead-letter stream's entries, oldest first, each as its fields.
    pub fn dead_letters(&self) -> Vec<std::collections::HashMap<String, String>> {
        let entries: Vec<(String, std::collections::HashMap<String, String>)> =
            redis::cmd("XRANGE")
                .arg(DEAD_LETTERS)
                .arg("-")
                .arg("+")
                .query(&mut self.redis.connection())
                .expect("XRANGE");
        entries.into_iter().map(|(_, fields)| fields).collect()
    }

    /// Entries in the stream (unacknowledged ones, once the consumer has trimmed).
    pub fn stream_length(&self) -> i64 {
        redis::cmd("XLEN")
            .arg(STREAM)
            .query(&mut self.redis.connection())
            .expect("XLEN")
    }

    /// Starts the consumer binary with extra flags, its health and metrics listener on a port
    /// picked anew: between a kill and a restart, another test's process may take the old one.
    pub fn start(&mut self, args: &[&str]) {
        self.health_port = test_support::free_port();
        let process = Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args(["--redis-url", &self.redis.url(), "--database-url"])
            .arg(&self.db_path)
            .args([
                "--consumer-name",
                "test-consumer",
                "--consumer-metrics-addr",
            ])
            .arg(format!("127.0.0.1:{}", self.health_port))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the consumer binary starts");
        self.process = Some(process);
    }

    /// Sends a signal (`TERM`, `KILL`, …) to the consumer.
    pub fn signal(&self, signal: &str) {
        let pid = self.process.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the consumer to exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let mut process = self.process.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = process.try_wait().expect("waits") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = process.kill();
                panic!("the consumer did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Appends events to the stream as ingestion would, returning their ids.
    pub fn append(&self, count: usize) -> Vec<String> {
        let mut connection = self.redis.connection();
        (0..count)
            .map(|_| {
                let event = sample_event();
                let _: String = redis::cmd("XADD")
                    .arg(STREAM)
                    .arg("*")
                    .arg("event")
                    .arg(event.to_json())
                    .query(&mut connection)
                    .expect("XADD");
                event.event_id
            })
            .collect()
    }

    /// Appends a raw entry, bypassing validation.
    pub fn append_raw(&self, field: &str, value: &str) {
        let mut connection = self.redis.connection();
        let _: String = redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg(field)
            .arg(value)
            .query(&mut connection)
            .expect("XADD");
    }

    /// Entries delivered to the group and not yet acknowledged.
    pub fn pending(&self) -> i64 {
        let mut connection = self.redis.connection();
        // Before the consumer created its group there is nothing pending.
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(STREAM)
            .arg("analytics")
            .query(&mut connection)
            .unwrap_or(redis::Value::Nil);
        match summary {
            redis::Value::Array(parts) => match parts.first() {
                Some(redis::Value::Int(n)) => *n,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Rows in the store (0 before the consumer created it).
    pub fn stored(&self) -> i64 {
        if !self.db_path.exists() {
            return 0;
        }
        let connection = rusqlite::Connection::open(&self.db_path).expect("opens");
        connection
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// The shops of the day rows of the UTC day starting at `day` (`''` is all shops).
    pub fn day_rows(&self, day: &str) -> Vec<String> {
        if !self.db_path.exists() {
            return Vec::new();
        }
        let day: chrono::DateTime<chrono::Utc> = day.parse().expect("a day start");
        let connection = rusqlite::Connection::open(&self.db_path).expect("opens");
        let Ok(mut statement) =
            connection.prepare("SELECT shop_id FROM people_days WHERE day = ?1 ORDER BY shop_id")
        else {
            return Vec::new();
        };
        statement
            .query_map([day.timestamp_micros()], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .unwrap_or_default()
    }

    /// Event ids stored more than once (must always be empty).
    pub fn stored_twice(&self) -> i64 {
        let connection = rusqlite::Connection::open(&self.db_path).expect("opens");
        connection
            .query_row(
                "SELECT COUNT(*) FROM (SELECT event_id FROM events GROUP BY event_id HAVING COUNT(*) > 1)",
                [],
                |r| r.get(0),
            )
            .expect("counts")
    }
}

impl Drop for TestConsumer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

pub fn sample_event() -> Event {
    let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "product_id": "prod-1"});
    Event::from_json(value, chrono::Utc::now(), new_event_id).expect("valid event")
}

/// Polls `check` every 20 ms until it is true, or panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
