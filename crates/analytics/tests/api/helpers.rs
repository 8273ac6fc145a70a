//! Starts the real analytics router on a free port over a temporary SQLite file, filled
//! through the store's own insert path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use analytics::Config;
use clap::Parser;
use events_core::event::{Event, new_event_id};
use events_core::store::{StoreUrl, Synchronous};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` answers (`ANALYTICS_METRICS_ADDR`).
    pub metrics_address: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    /// The store the app reads (`db_path`'s SQLite file unless started on another).
    pub store_url: StoreUrl,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_dashboard(Path::new("/nonexistent-dashboard")).await
}

pub async fn spawn_app_with_dashboard(dashboard: &Path) -> TestApp {
    spawn_app_configured(dashboard, &[], |_| {}).await
}

/// With extra command-line arguments (`--cors-origins`, `--max-queries`, …).
pub async fn spawn_app_with_args(args: &[&str]) -> TestApp {
    spawn_app_configured(Path::new("/nonexistent-dashboard"), args, |_| {}).await
}

/// Starts analytics with `args` after the store and dashboard ones, then `configure` for what
/// no flag sets (the connection timeouts); without keys (`--auth off`) unless `args` choose
/// `--auth` (tests about keys pass `--auth keys` and `--redis-url`), so that tests about
/// something else need none.
pub async fn spawn_app_configured(
    dashboard: &Path,
    args: &[&str],
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    spawn_app_on(None, dashboard, args, configure).await
}

/// On a PostgreSQL database (`postgres://…`) instead of a temporary SQLite file.
pub async fn spawn_app_on_postgres(url: &str) -> TestApp {
    spawn_app_on_postgres_with_args(url, &[]).await
}

/// The same with extra command-line arguments (`--database-read-url`, …).
pub async fn spawn_app_on_postgres_with_args(url: &str, args: &[&str]) -> TestApp {
    spawn_app_on(Some(url), Path::new("/nonexistent-dashboard"), args, |_| {}).await
}

async fn spawn_app_on(
    database_url: Option<&str>,
    dashboard: &Path,
    args: &[&str],
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("analytics.db");
    let store_url = match database_url {
        Some(url) => StoreUrl::parse(url).expect("a store URL"),
        None => StoreUrl::Sqlite(db_path.clone()),
    };
    let mut argv: Vec<std::ffi::OsString> = vec![
        "analytics".into(),
        "--database-url".into(),
        database_url.map_or_else(|| db_path.clone().into(), Into::into),
        "--dashboard-dir".into(),
        dashboard.into(),
    ];
    if !args.contains(&"--auth") {
        argv.extend(["--auth".into(), "off".into()]);
    }
    argv.extend(args.iter().map(Into::into));
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
    tokio::spawn(analytics::serve(
        config,
        listener,
        metrics,
        shutdown.clone(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let app = TestApp {
        address,
        metrics_address,
        client,
        db_path,
        store_url,
        _dir: dir,
        shutdown,
    };
    test_support::eventually("analytics to answer", Duration::from_secs(10), || async {
        app.client
            .get(format!("{}/api/health", app.address))
            .send()
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    app
}

impl TestApp {
    /// Stores events exactly as the consumer would.
    pub fn store(&self, events: &[serde_json::Value]) {
        let events: Vec<Event> = events
            .iter()
            .map(|v| {
                Event::from_json(v.clone(), chrono::Utc::now(), new_event_id).expect("valid event")
            })
            .collect();
        // On a thread of its own: PostgreSQL's synchronous client refuses to run on the
        // test's async runtime (the services run store calls on the blocking pool).
        std::thread::scope(|scope| {
            scope.spawn(|| {
                self.store_url
                    .open_writer(Synchronous::Normal)
                    .expect("opens")
                    .insert_batch(&events)
                    .expect("stores");
            });
        });
    }

    /// Stores validated events as they are (with the traffic fields ingestion derives).
    pub fn store_events(&self, events: &[Event]) {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                self.store_url
                    .open_writer(Synchronous::Normal)
                    .expect("opens")
                    .insert_batch(events)
                    .expect("stores");
            });
        });
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path_and_query: &str) -> (u16, serde_json::Value) {
        let response = self.get(path_and_query).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }
}
