//! two and three consumers of one group, on one PostgreSQL (a private cluster), under
//! load, one of them killed with SIGKILL again and again (restarted under its name, as a
//! supervisor would) and one killed for good (its entries claimed by the others): every event
//! answered 202 is stored exactly once.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use test_support::{PostgresServer, RedisServer, eventually};

use crate::load::{send_until_accepted, start_ingestion};

/// A consumer process writing to PostgreSQL.
struct PgConsumer {
    name: String,
    process: Option<Child>,
}

impl PgConsumer {
    fn start(name: &str, redis: &RedisServer, database: &str) -> PgConsumer {
        let process = Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args(["--redis-url", &redis.url(), "--database-url", database])
            .args(["--consumer-name", name, "--consumer-metrics-addr"])
            .arg(format!("127.0.0.1:{}", test_support::free_port()))
            .args(["--batch-size", "50", "--batch-timeout", "100ms"])
            .args(["--claim-idle", "2s"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the consumer binary starts");
        PgConsumer {
            name: name.to_owned(),
            process: Some(process),
        }
    }

    /// SIGKILL, as a crash of its host would.
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for PgConsumer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stored_ids(database: &str) -> Vec<String> {
    let Ok(mut client) = events_core::store::pg::connect(database) else {
        return Vec::new();
    };
    client
        .query("SELECT event_id FROM events", &[])
        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
        .unwrap_or_default()
}

async fn several_consumers_store_every_accepted_event_once(consumers: usize) {
    let redis = RedisServer::start();
    let cluster = PostgresServer::start();
    let database = cluster.database();
    let ingestion = start_ingestion(&redis.url(), &[]).await;
    let mut running: Vec<PgConsumer> = (0..consumers)
        .map(|i| PgConsumer::start(&format!("c{i}"), &redis, &database))
        .collect();
    let prefix = format!("pg{consumers}");
    let load =
        tokio::spawn(
            async move { send_until_accepted(ingestion.url.clone(), &prefix, 3000, 8).await },
        );
    // The first consumer dies again and again, restarted under its own name.
    let mut kills = 0;
    while kills < 3 && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        running[0].kill();
        kills += 1;
        let name = running[0].name.clone();
        running[0] = PgConsumer::start(&name, &redis, &database);
    }
    // The last one dies for good: the others claim what it held.
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.last_mut().expect("a consumer").kill();
    let sent = load.await.expect("load");
    assert!(
        kills >= 2,
        "the load ended after {kills} kills: make it longer"
    );
    let accepted = sent.accepted;
    let database_for_wait = database.clone();
    eventually(
        "every accepted event to be stored",
        Duration::from_secs(90),
        || {
            let database = database_for_wait.clone();
            let expected = accepted.len();
            async move {
                let ids = tokio::task::spawn_blocking(move || stored_ids(&database))
                    .await
                    .expect("reads");
                (ids.len() >= expected).then_some(())
            }
        },
    )
    .await;
    let ids = tokio::task::spawn_blocking(move || stored_ids(&database))
        .await
        .expect("reads");
    let distinct: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), distinct.len(), "an event stored twice");
    assert_eq!(
        distinct, accepted,
        "stored ids differ from the ids answered 202"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_on_postgresql_store_every_accepted_event_once() {
    several_consumers_store_every_accepted_event_once(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_on_postgresql_store_every_accepted_event_once() {
    several_consumers_store_every_accepted_event_once(3).await;
}
