//! Starts the real ingestion router on a free port against a private redis-server.

use std::time::Duration;

use clap::Parser;
use ingestion::Config;
use test_support::RedisServer;
use tokio_util::sync::CancellationToken;

pub const STREAM: &str = "analytics:events:stream";
pub const CHANNEL: &str = "analytics:events";

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` answers (`INGESTION_METRICS_ADDR`).
    pub metrics_address: String,
    /// The same router the server runs, for requests without a socket.
    router: axum::Router,
    pub client: reqwest::Client,
    pub redis: RedisServer,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(RedisServer::start(), "500ms").await
}

pub async fn spawn_app_with(redis: RedisServer, redis_timeout: &str) -> TestApp {
    spawn_app_with_args(redis, &["--redis-timeout", redis_timeout]).await
}

/// Starts ingestion with `args`; without keys (`--auth off`) unless `args` choose `--auth`,
/// so that tests about something else need none.
pub async fn spawn_app_with_args(redis: RedisServer, args: &[&str]) -> TestApp {
    spawn_app_configured(redis, args, |_| {}).await
}

/// With extra arguments, then `configure` for what no flag sets (the connection timeouts).
pub async fn spawn_app_configured(
    redis: RedisServer,
    args: &[&str],
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let url = redis.url();
    let mut argv = vec!["ingestion", "--redis-url", &url];
    if !args.contains(&"--auth") {
        argv.extend_from_slice(&["--auth", "off"]);
    }
    argv.extend_from_slice(args);
    let mut config = Config::parse_from(argv);
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let metrics_address = format!("http://{}", metrics.local_addr().expect("address"));
    let shutdown = CancellationToken::new();
    let router = ingestion::build_router(&config).expect("router");
    tokio::spawn(ingestion::serve(
        config,
        listener,
        metrics,
        shutdown.clone(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    TestApp {
        address,
        metrics_address,
        router,
        client,
        redis,
        shutdown,
    }
}

impl TestApp {
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post_raw(path, "application/json", body.to_string())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// The JSON of every entry in the stream, oldest first.
    pub fn stream_events(&self) -> Vec<serde_json::Value> {
        let mut connection = self.redis.connection();
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(STREAM)
            .arg("-")
            .arg("+")
            .query(&mut connection)
            .expect("XRANGE");
        entries
            .into_iter()
            .map(|(_, fields)| {
                let (name, json) = &fields[0];
                assert_eq!(name, "event");
                serde_json::from_str(json).expect("entry holds JSON")
            })
            .collect()
    }
}
