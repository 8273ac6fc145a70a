//! The measurements, each against a ceiling or baseline taken in the same run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use events_core::event::{Event, new_event_id};
use events_core::store::{StoreUrl, Synchronous};

use crate::store_location::PhaseStore;
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::load::{self, LoadResult, Target};
use crate::report::Report;
use crate::stack::{Service, free_addr, start_redis};

pub struct Settings {
    pub duration: Duration,
    pub connections: usize,
    pub drain_events: usize,
    pub query_events: usize,
}

/// Events per batch request.
const BATCH: usize = 100;
/// The end-to-end lag the sustained rate must stay under.
const MAX_LAG: Duration = Duration::from_secs(5);

fn page_view(n: usize) -> Value {
    json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
        "product_id": format!("prod-{}", n % 1000), "session_id": format!("s-{}", n % 5000),
        "visitor_id": format!("v-{}", n % 3000)})
}

fn batch_body() -> Bytes {
    let events: Vec<Value> = (0..BATCH).map(page_view).collect();
    Bytes::from(json!({"events": events}).to_string())
}

fn single_body() -> Bytes {
    Bytes::from(page_view(1).to_string())
}

/// The consumer's backlog and the query store: `count` events 18 ms apart, as a shop sending
/// 55 events a second would have queued them (a backlog arrives over time; events that all
/// claim one instant would make every time-ordered index insert in the middle).
fn events(count: usize) -> anyhow::Result<Vec<Event>> {
    let now = Utc::now();
    let start: DateTime<Utc> = "2025-10-02T10:30:00Z".parse()?;
    (0..count)
        .map(|n| {
            let mut value = page_view(n);
            let at = start + chrono::TimeDelta::milliseconds(18 * n as i64);
            value["timestamp"] = json!(at.to_rfc3339());
            let types = [
                "page_view",
                "page_view",
                "page_view",
                "add_to_cart",
                "purchase",
            ];
            value["event_type"] = json!(types[n % types.len()]);
            if n % types.len() == 4 {
                value["order_amount"] = json!((n % 20_000) as f64 / 100.0);
            }
            Event::from_json(value, now, new_event_id)
                .map_err(|e| anyhow::anyhow!("a generated event is invalid: {e:?}"))
        })
        .collect()
}

fn per_second(value: f64) -> String {
    format!("{value:.0}/s")
}

pub async fn run_all(settings: &Settings) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut ingestion_rss: f64 = 0.0;
    let mut consumer_rss: f64 = 0.0;
    let mut analytics_rss: f64 = 0.0;

    eprintln!("1/5 ceiling: a bare axum handler that parses the JSON");
    let ceiling = ceiling(settings).await?;

    eprintln!(
        "2/5 ingestion: single events, then batches of {BATCH}, with the consumer paused (SIGSTOP)"
    );
    let (single, batch) = {
        let stack = Stack::start(&[]).await?;
        // Ingestion is measured alone against its ceiling; the consumer has its own phase,
        // and on two cores it would take one of them for the whole measurement.
        stack.consumer.signal("STOP");
        let single = load::run(
            &stack.target("/v1/events", single_body()),
            settings.connections,
            settings.duration,
            None,
        )
        .await;
        let batch = load::run(
            &stack.target("/v1/events/batch", batch_body()),
            settings.connections,
            settings.duration,
            None,
        )
        .await;
        ingestion_rss = ingestion_rss.max(stack.ingestion.peak_rss_mib());
        consumer_rss = consumer_rss.max(stack.consumer.peak_rss_mib());
        (single, batch)
    };
    let ratio = single.requests_per_second() / ceiling.requests_per_second();
    report.row(
        format!(
            "ingestion, single events, {} connections",
            settings.connections
        ),
        format!(
            "{} (p50 {:?}, p99 {:?})",
            per_second(single.requests_per_second()),
            single.latency(0.5),
            single.latency(0.99)
        ),
        format!(
            "{} (p50 {:?}, p99 {:?})",
            per_second(ceiling.requests_per_second()),
            ceiling.latency(0.5),
            ceiling.latency(0.99)
        ),
        Some(ratio),
        "≥ 0.5",
        Some(ratio >= 0.5),
    );
    let batch_events = batch.requests_per_second() * BATCH as f64;
    let ratio = batch_events / ceiling.requests_per_second();
    report.row(
        format!("ingestion, batches of {BATCH}, events"),
        per_second(batch_events),
        format!(
            "{} requests (ceiling)",
            per_second(ceiling.requests_per_second())
        ),
        Some(ratio),
        "≥ 2",
        Some(ratio >= 2.0),
    );
    for (name, result) in [
        ("single", &single),
        ("batch", &batch),
        ("ceiling", &ceiling),
    ] {
        if result.failed > 0 {
            report.notes.push(format!(
                "{name}: {} requests were not answered 202",
                result.failed
            ));
        }
    }

    eprintln!(
        "3/5 consumer: draining {} events, and the raw insert of the same rows",
        settings.drain_events
    );
    let (drain_rate, drain_rss) = drain(settings.drain_events).await?;
    consumer_rss = consumer_rss.max(drain_rss);
    let raw_rate = raw_insert(settings.drain_events)?;
    let ratio = drain_rate / raw_rate;
    report.row(
        format!(
            "consumer draining {} events (BATCH_SIZE 100)",
            settings.drain_events
        ),
        per_second(drain_rate),
        format!("{} raw insert, 1000 per transaction", per_second(raw_rate)),
        Some(ratio),
        "≥ 0.25",
        Some(ratio >= 0.25),
    );
    report.row(
        "peak RSS consumer during the drain",
        format!("{drain_rss:.1} MiB"),
        "",
        None,
        "≤ 64 MB",
        Some(drain_rss * 1.048_576 <= 64.0),
    );

    eprintln!("4/5 sustained end-to-end rate with lag under {MAX_LAG:?}");
    let (sustained, rss) = sustained(settings).await?;
    ingestion_rss = ingestion_rss.max(rss.0);
    consumer_rss = consumer_rss.max(rss.1);
    analytics_rss = analytics_rss.max(rss.2);
    report.row(
        "sustained end-to-end rate, lag < 5 s",
        per_second(sustained),
        "",
        None,
        "",
        None,
    );

    eprintln!(
        "5/5 GET /api/analytics at {} events against the original's three queries",
        settings.query_events
    );
    let (api, original, rss) = queries(settings.query_events).await?;
    analytics_rss = analytics_rss.max(rss);
    let ratio = original.as_secs_f64() / api.as_secs_f64();
    report.row(
        format!(
            "GET /api/analytics at {} events, p50 of 20",
            settings.query_events
        ),
        format!("{api:?}"),
        format!("{original:?} (original three queries)"),
        Some(ratio),
        "≥ 20× faster",
        Some(ratio >= 20.0),
    );

    report.row(
        "peak RSS ingestion",
        format!("{ingestion_rss:.1} MiB"),
        "",
        None,
        "≤ 50 MB",
        Some(ingestion_rss * 1.048_576 <= 50.0),
    );
    report.row(
        "peak RSS consumer, every phase",
        format!("{consumer_rss:.1} MiB"),
        "",
        None,
        "",
        None,
    );
    report.row(
        "peak RSS analytics",
        format!("{analytics_rss:.1} MiB"),
        "",
        None,
        "",
        None,
    );
    Ok(report)
}

/// Loads an already running ingestion service.
pub async fn load_only(
    addr: std::net::SocketAddr,
    batch: bool,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let target = if batch {
        Target {
            addr,
            path: "/v1/events/batch",
            body: batch_body(),
        }
    } else {
        Target {
            addr,
            path: "/v1/events",
            body: single_body(),
        }
    };
    load::run(&target, connections, duration, None).await
}

/// The bare handler, in its own process, under the same load as ingestion.
async fn ceiling(settings: &Settings) -> anyhow::Result<LoadResult> {
    let addr = free_addr();
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(["ceiling-server", "--addr", &addr.to_string()])
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            anyhow::bail!("the ceiling server did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let target = Target {
        addr,
        path: "/v1/events",
        body: single_body(),
    };
    let result = load::run(&target, settings.connections, settings.duration, None).await;
    let _ = child.kill();
    let _ = child.wait();
    Ok(result)
}

/// Redis, ingestion, consumer and analytics over a fresh store.
struct Stack {
    ingestion: Service,
    consumer: Service,
    analytics: Service,
    // Dropped after the services, so they stop before Redis and the store go.
    _redis: test_support::RedisServer,
    _store: PhaseStore,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start(consumer_env: &[(&str, String)]) -> anyhow::Result<Stack> {
        let redis = start_redis();
        let dir = tempfile::tempdir()?;
        let store = PhaseStore::new(dir.path(), "bench")?;
        let db = store.url.clone();
        let ingestion_addr = free_addr();
        let ingestion_metrics_addr = free_addr();
        let ingestion = Service::start(
            "ingestion",
            &[
                ("REDIS_URL", redis.url()),
                ("INGESTION_ADDR", ingestion_addr.to_string()),
                ("INGESTION_METRICS_ADDR", ingestion_metrics_addr.to_string()),
                ("MAX_BACKLOG", "100000000".into()),
                ("MAX_BACKLOG_BYTES", "1TiB".into()),
            ],
            ingestion_addr,
            "/v1/ready",
        )
        .await?
        .with_metrics_addr(ingestion_metrics_addr);
        let consumer_addr = free_addr();
        let mut env = vec![
            ("REDIS_URL", redis.url()),
            ("DATABASE_URL", db.clone()),
            ("CONSUMER_METRICS_ADDR", consumer_addr.to_string()),
            ("BATCH_TIMEOUT", "1s".to_owned()),
        ];
        env.extend(consumer_env.iter().cloned());
        let consumer = Service::start("consumer", &env, consumer_addr, "/health").await?;
        let analytics_addr = free_addr();
        let analytics = Service::start(
            "analytics",
            &[
                ("DATABASE_URL", db),
                ("ANALYTICS_ADDR", analytics_addr.to_string()),
                ("ANALYTICS_METRICS_ADDR", free_addr().to_string()),
                ("DASHBOARD_DIR", "/nonexistent".into()),
            ],
            analytics_addr,
            "/api/ready",
        )
        .await?;
        Ok(Stack {
            ingestion,
            consumer,
            analytics,
            _redis: redis,
            _store: store,
            _dir: dir,
        })
    }

    fn target(&self, path: &'static str, body: Bytes) -> Target {
        Target {
            addr: self.ingestion.addr,
            path,
            body,
        }
    }

    async fn stored(&self) -> f64 {
        self.consumer
            .metric("/metrics", "consumer_events_stored_total")
            .await
            .unwrap_or(0.0)
    }

    async fn accepted(&self) -> f64 {
        self.ingestion
            .metric("/metrics", "events_accepted_total")
            .await
            .unwrap_or(0.0)
    }
}

/// The consumer draining a backlog that was in Redis before it started.
async fn drain(count: usize) -> anyhow::Result<(f64, f64)> {
    let redis = start_redis();
    let dir = tempfile::tempdir()?;
    let payloads: Vec<String> = events(count)?.iter().map(Event::to_json).collect();
    let client = redis::Client::open(redis.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    for chunk in payloads.chunks(1000) {
        let mut pipe = redis::pipe();
        for payload in chunk {
            pipe.cmd("XADD")
                .arg("analytics:events:stream")
                .arg("*")
                .arg("event")
                .arg(payload)
                .ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;
    }
    let store = PhaseStore::new(dir.path(), "drain")?;
    let addr = free_addr();
    let started = Instant::now();
    let consumer = Service::start(
        "consumer",
        &[
            ("REDIS_URL", redis.url()),
            ("DATABASE_URL", store.url.clone()),
            ("CONSUMER_METRICS_ADDR", addr.to_string()),
        ],
        addr,
        "/health",
    )
    .await?;
    loop {
        let stored = consumer
            .metric("/metrics", "consumer_events_stored_total")
            .await
            .unwrap_or(0.0);
        if stored >= count as f64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(anyhow::anyhow!(
                "the consumer stored only {stored} of {count} events in 10 minutes"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    Ok((rate, consumer.peak_rss_mib()))
}

/// The ceiling for the consumer: the same rows inserted with one prepared statement, 1000 per
/// transaction, into the plainest table that keeps them once: the same columns, a rowid and
/// one unique index on the time-ordered text ids. Everything the store adds (its other
/// indexes, the rollups) is part of what the consumer's figure measures.
fn raw_insert(count: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut connection = rusqlite::Connection::open(dir.path().join("raw.db"))?;
    connection.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {};
             CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL,
                event_type TEXT NOT NULL, timestamp TEXT NOT NULL, ts_micros INTEGER,
                product_id TEXT, order_amount REAL, amount_micros INTEGER,
                shop_id TEXT NOT NULL, session_id TEXT, visitor_id TEXT, received_at TEXT);
             CREATE UNIQUE INDEX events_event_id ON events (event_id);",
        Synchronous::Normal.pragma_value()
    ))?;
    let rows = events(count)?;
    let started = Instant::now();
    for chunk in rows.chunks(1000) {
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO events (event_id, event_type, timestamp, ts_micros, product_id, order_amount,
                        amount_micros, shop_id, session_id, visitor_id, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                ?;
            for event in chunk {
                insert.execute(rusqlite::params![
                    event.event_id,
                    event.event_type.as_str(),
                    events_core::event::format_utc(&event.timestamp),
                    event.timestamp.timestamp_micros(),
                    event.product_id,
                    event.order_amount,
                    event.amount_micros(),
                    event.shop_id,
                    event.session_id,
                    event.visitor_id,
                    events_core::event::format_utc(&event.received_at),
                ])?;
            }
        }
        transaction.commit()?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Steps the offered rate up until the consumer falls more than `MAX_LAG` behind (or ingestion
/// cannot take the rate); returns the highest rate that kept up and the services' peak memory.
async fn sustained(settings: &Settings) -> anyhow::Result<(f64, (f64, f64, f64))> {
    let stack = Stack::start(&[]).await?;
    let target = stack.target("/v1/events/batch", batch_body());
    let mut best = 0.0;
    for rate in [
        2_000.0, 5_000.0, 10_000.0, 20_000.0, 40_000.0, 80_000.0, 160_000.0,
    ] {
        let base_accepted = stack.accepted().await;
        let base_stored = stack.stored().await;
        let load = tokio::spawn({
            let target = target.clone();
            let duration = settings.duration;
            async move { load::run(&target, 10, duration, Some(rate / BATCH as f64)).await }
        });
        let mut max_lag = 0.0_f64;
        while !load.is_finished() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let behind =
                (stack.accepted().await - base_accepted) - (stack.stored().await - base_stored);
            max_lag = max_lag.max(behind / rate);
            let _ = reqwest::get(format!("http://{}/api/analytics", stack.analytics.addr)).await;
        }
        let result = load.await?;
        let achieved = result.requests_per_second() * BATCH as f64;
        eprintln!(
            "    offered {rate:.0}/s: ingested {achieved:.0}/s, consumer at most {max_lag:.2} s behind"
        );
        if achieved < rate * 0.9 || max_lag >= MAX_LAG.as_secs_f64() {
            break;
        }
        best = achieved;
        // Let the consumer catch up before the next step.
        let deadline = Instant::now() + Duration::from_secs(60);
        while stack.accepted().await - stack.stored().await > 0.0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let rss = (
        stack.ingestion.peak_rss_mib(),
        stack.consumer.peak_rss_mib(),
        stack.analytics.peak_rss_mib(),
    );
    Ok((best, rss))
}

/// `GET /api/analytics` over `count` stored events, against the original project's three SQL
/// queries over the same table. Returns both medians and analytics' peak memory.
async fn queries(count: usize) -> anyhow::Result<(Duration, Duration, f64)> {
    let dir = tempfile::tempdir()?;
    let store = PhaseStore::new(dir.path(), "queries")?;
    let store_url = StoreUrl::parse(&store.url)?;
    let all: Arc<[Event]> = events(count)?.into();
    // Off the async runtime: PostgreSQL's synchronous client refuses to run on it.
    let load_url = store_url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut writer = load_url.open_writer(Synchronous::Normal)?;
        for chunk in all.chunks(5000) {
            writer.insert_batch(chunk)?;
        }
        Ok(())
    })
    .await??;
    let addr = free_addr();
    let analytics = Service::start(
        "analytics",
        &[
            ("DATABASE_URL", store.url.clone()),
            ("ANALYTICS_ADDR", addr.to_string()),
            ("ANALYTICS_METRICS_ADDR", free_addr().to_string()),
            ("DASHBOARD_DIR", "/nonexistent".into()),
        ],
        addr,
        "/api/ready",
    )
    .await?;
    let url = format!("http://{addr}/api/analytics");
    let client = reqwest::Client::new();
    let _ = client.get(&url).send().await;
    let mut api = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = client.get(&url).send().await?;
        let _ = response.bytes().await;
        api.push(started.elapsed());
    }
    let original = match store_url {
        StoreUrl::Sqlite(path) => original_queries(&path, 20)?,
        StoreUrl::Postgres(url) => {
            tokio::task::spawn_blocking(move || original_queries_postgres(&url, 20)).await??
        }
    };
    Ok((median(api), median(original), analytics.peak_rss_mib()))
}

/// The original PHP service's three queries: counts by type; average, maximum and minimum of
/// purchases; the most viewed product.
fn original_queries(db: &Path, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let connection = rusqlite::Connection::open(db)?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let counts: Vec<(String, i64)> = connection
            .prepare_cached("SELECT event_type, COUNT(*) FROM events GROUP BY event_type")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())?;
        let amounts: (Option<f64>, Option<f64>, Option<f64>) = connection
            .query_row(
                "SELECT AVG(order_amount), MAX(order_amount), MIN(order_amount) FROM events WHERE event_type = 'purchase'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            ?;
        let top: Option<String> = connection
            .query_row(
                "SELECT product_id FROM events WHERE event_type = 'page_view' AND product_id IS NOT NULL
                 GROUP BY product_id ORDER BY COUNT(*) DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            ?;
        std::hint::black_box((counts, amounts, top));
        times.push(started.elapsed());
    }
    Ok(times)
}

/// The same three queries on PostgreSQL.
fn original_queries_postgres(url: &str, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut client = events_core::store::pg::connect(url)?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        for sql in [
            "SELECT event_type, COUNT(*) FROM events GROUP BY event_type",
            "SELECT AVG(order_amount), MAX(order_amount), MIN(order_amount) FROM events WHERE event_type = 'purchase'",
            "SELECT product_id FROM events WHERE event_type = 'page_view' AND product_id IS NOT NULL
             GROUP BY product_id ORDER BY COUNT(*) DESC LIMIT 1",
        ] {
            std::hint::black_box(client.query(sql, &[])?);
        }
        times.push(started.elapsed());
    }
    Ok(times)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
