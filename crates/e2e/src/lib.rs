//! The whole pipeline in one process for end-to-end tests: a private `redis-server`, the real
//! ingestion, consumer and analytics services on free ports, and a temporary SQLite file.

use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use test_support::RedisServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Pipeline {
    pub ingestion: String,
    pub analytics: String,
    pub client: reqwest::Client,
    pub redis: RedisServer,
    /// The SQLite file the consumer writes.
    pub db: std::path::PathBuf,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Pipeline {
    /// Starts everything; the consumer flushes after `batch_timeout` (e.g. `200ms`).
    pub async fn start(batch_timeout: &str) -> Pipeline {
        // Keys are tested in each service's own tests; here the pipeline runs open.
        Pipeline::start_with(batch_timeout, &["--auth", "off"]).await
    }

    /// [`Pipeline::start`] with ingestion's access arguments (`--auth keys …`).
    pub async fn start_with(batch_timeout: &str, ingestion_auth: &[&str]) -> Pipeline {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = dir.path().join("analytics.db");
        let db = db_path.display().to_string();
        let shutdown = CancellationToken::new();

        let ingestion_listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let ingestion = format!(
            "http://{}",
            ingestion_listener.local_addr().expect("address")
        );
        let redis_url = redis.url();
        let mut argv = vec!["ingestion", "--redis-url", &redis_url];
        argv.extend_from_slice(ingestion_auth);
        let config = ingestion::Config::parse_from(argv);
        let ingestion_metrics = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served =
                ingestion::serve(config, ingestion_listener, ingestion_metrics, stop).await;
            if let Err(error) = served {
                panic!("ingestion stopped: {error}");
            }
        });

        let config = consumer::Config::parse_from([
            "consumer",
            "--redis-url",
            &redis.url(),
            "--database-url",
            &db,
            "--batch-timeout",
            batch_timeout,
            "--consumer-name",
            "e2e",
            "--consumer-metrics-addr",
            "127.0.0.1:0",
        ]);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = consumer::run(config, stop).await {
                panic!("consumer stopped: {error}");
            }
        });

        let analytics_listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let analytics = format!(
            "http://{}",
            analytics_listener.local_addr().expect("address")
        );
        let config = analytics::Config::parse_from([
            "analytics",
            "--database-url",
            &db,
            "--dashboard-dir",
            "/nonexistent",
            "--auth",
            "off",
        ]);
        let analytics_metrics = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served =
                analytics::serve(config, analytics_listener, analytics_metrics, stop).await;
            if let Err(error) = served {
                panic!("analytics stopped: {error}");
            }
        });

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let pipeline = Pipeline {
            ingestion,
            analytics,
            client,
            redis,
            db: db_path,
            _dir: dir,
            shutdown,
        };
        test_support::eventually("analytics to be ready", Duration::from_secs(10), || async {
            let response = pipeline
                .client
                .get(format!("{}/api/ready", pipeline.analytics))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        pipeline
    }

    /// Posts one event; returns the status code.
    pub async fn send(&self, event: &Value) -> u16 {
        self.post("/v1/events", event).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> u16 {
        let response = self
            .client
            .post(format!("{}{path}", self.ingestion))
            .json(body)
            .send()
            .await
            .expect("request sent");
        response.status().as_u16()
    }

    /// `GET /api/analytics` with an optional query string.
    pub async fn metrics(&self, query: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/analytics{query}", self.analytics))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }

    /// Polls the metrics until `done` holds for them, then returns them.
    pub async fn metrics_once(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        test_support::eventually(what, timeout, || async {
            let metrics = self.metrics("").await;
            done(&metrics).then_some(metrics)
        })
        .await
    }
}
