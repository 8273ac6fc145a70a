//! The analytics service: computes the metrics JSON from the store and serves the built
//! dashboard.
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | the router and one module per endpoint |
//! | [`query`] | typed query strings: the raw pairs, one struct per endpoint (`query_params!`), one extractor, their OpenAPI parameters |
//! | [`params`] | the parameters' values: shops, ranges, time zones, numbers, the shared `Scope` group; refusals naming the parameter |
//! | [`filters`] | the attribution filter parameters (segments): the `Filters` group, read into the store's selection |
//! | [`calendar`] | calendar intervals in a time zone (DST, half-hour offsets, Monday weeks) |
//! | [`csv`] | spreadsheet-safe CSV cells |
//! | [`error`] | the one error type and its JSON answers |
//! | [`limits`] | `MAX_QUERIES` and `MAX_LIVE_STREAMS`: how much work runs at once |
//! | [`static_files`] | the built dashboard, served only from inside `DASHBOARD_DIR` |
//! | [`openapi`] | the OpenAPI document's shared parts, `/api/openapi.json` and the `/api/docs` page |
//! | [`auth`] | read keys and their shop scope, rate limits, the per-key live-stream cap (docs/SECURITY.md) |
//! | [`keys_cli`] | `analytics keys create|list|revoke` |

pub mod auth;
pub mod calendar;
pub mod csv;
pub mod error;
pub mod filters;
pub mod keys_cli;
pub mod limits;
pub mod openapi;
pub mod params;
pub mod query;
pub mod routes;
pub mod static_files;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use events_core::config::{
    ConnectionArgs, CorsArgs, LogArgs, ReadUrl, RedisArgs, StoreArgs, parse_positive_usize,
};
use events_core::keys::access::AuthArgs;
use events_core::store::StoreReader;
use events_core::store::live::Stored;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use routes::router;

/// Computes shop metrics from the store and serves the dashboard.
#[derive(Debug, Clone, Parser)]
#[command(name = "analytics", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ANALYTICS_ADDR", default_value = "0.0.0.0:8000")]
    pub analytics_addr: String,

    #[command(flatten)]
    pub store: StoreArgs,

    /// A PostgreSQL read replica for the queries; migrations still go to `DATABASE_URL`.
    /// Unset or empty: read from `DATABASE_URL`.
    #[arg(long, env = "DATABASE_READ_URL", value_parser = events_core::config::parse_read_url)]
    pub database_read_url: Option<ReadUrl>,

    /// The built dashboard (`npm run build` in frontend/), served at `/`. When the folder is
    /// missing, the API is served alone.
    #[arg(long, env = "DASHBOARD_DIR", default_value = "frontend/dist")]
    pub dashboard_dir: PathBuf,

    #[command(flatten)]
    pub cors: CorsArgs,

    /// Where `GET /metrics` is served: an internal address, not the public port.
    #[arg(long, env = "ANALYTICS_METRICS_ADDR", default_value = "127.0.0.1:9101")]
    pub analytics_metrics_addr: String,

    /// Queries run at once (default: twice the cores); a request waiting more than 10 s for
    /// its turn is answered 503 with Retry-After.
    #[arg(long, env = "MAX_QUERIES", default_value_t = limits::default_max_queries(), value_parser = parse_positive_usize)]
    pub max_queries: usize,

    /// `/api/v1/live` streams open at once; more are answered 503 with Retry-After.
    #[arg(long, env = "MAX_LIVE_STREAMS", default_value_t = limits::DEFAULT_MAX_LIVE_STREAMS, value_parser = parse_positive_usize)]
    pub max_live_streams: usize,

    /// How long a request waits for a query slot (10 s, docs/SECURITY.md; settable only by tests).
    #[arg(skip)]
    pub query_wait: Option<Duration>,

    #[command(flatten)]
    pub connections: ConnectionArgs,

    #[command(flatten)]
    pub log: LogArgs,

    /// Where the API keys live (docs/SECURITY.md).
    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Requests per second per read key, with bursts of twice that; `429` beyond.
    #[arg(long, env = "RATE_LIMIT_READ", default_value = "100")]
    pub rate_limit_read: NonZeroU32,

    /// Without a command, analytics serves.
    #[command(subcommand)]
    pub command: Option<keys_cli::Command>,
}

/// What every handler shares.
pub struct AppState {
    pub store: StoreReader,
    /// What the live watcher noticed, for `/api/v1/live` streams.
    pub live: broadcast::Sender<Stored>,
    /// Cancelled at shutdown, which ends the live streams.
    pub shutdown: CancellationToken,
    /// `MAX_QUERIES`: a slot for every query that reads the store.
    pub queries: limits::Slots,
    /// `MAX_LIVE_STREAMS`.
    pub live_streams: limits::Slots,
    /// What a request leaves running after its answer starts (an export's writer): awaited at
    /// shutdown with the service's own background tasks.
    pub tasks: TaskTracker,
}

/// Binds `ANALYTICS_ADDR` and serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = events_core::http::bind("ANALYTICS_ADDR", &config.analytics_addr).await?;
    let metrics =
        events_core::http::bind("ANALYTICS_METRICS_ADDR", &config.analytics_metrics_addr).await?;
    serve(config, listener, metrics, shutdown).await
}

/// Serves on already bound listeners, the public one and the one for `/metrics` (tests pass
/// them on port 0).
///
/// Shutdown: `shutdown` ends the live streams, stops accepting and waits for the requests in
/// flight; then the background tasks (the `/metrics` listener, the live watcher, the key
/// cache's refresh, exports still writing) are stopped and each is awaited before this
/// returns, so nothing runs after it.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    events_core::prometheus::handle();
    let address = listener.local_addr().context("ANALYTICS_ADDR")?;
    let tasks = TaskTracker::new();
    let stop_background = CancellationToken::new();
    let _stop_background_on_return = stop_background.clone().drop_guard();
    tasks.spawn(events_core::prometheus::serve_metrics(
        metrics,
        stop_background.clone(),
    ));
    let read_url = config
        .database_read_url
        .clone()
        .and_then(|ReadUrl(url)| url);
    let (url, watched) = (
        config.store.database_url.clone(),
        read_url
            .clone()
            .unwrap_or_else(|| config.store.database_url.clone()),
    );
    let store = tokio::task::spawn_blocking(move || StoreReader::open(&url, read_url.as_ref()))
        .await
        .context("opening the store")?
        .context("DATABASE_URL")?;
    let (live, _) = broadcast::channel(16);
    routes::live::start_watcher(watched, live.clone(), stop_background.clone(), &tasks)
        .await
        .context("DATABASE_URL")?;
    let state = Arc::new(AppState {
        store,
        live,
        shutdown: shutdown.clone(),
        queries: limits::Slots::new(
            config.max_queries,
            config.query_wait.unwrap_or(limits::QUEUE_WAIT),
            "queries",
        ),
        live_streams: limits::Slots::new(config.max_live_streams, Duration::ZERO, "live streams"),
        tasks: tasks.clone(),
    });
    let dashboard = config
        .dashboard_dir
        .join("index.html")
        .is_file()
        .then_some(config.dashboard_dir.as_path());
    if dashboard.is_none() {
        tracing::warn!(
            dashboard_dir = %config.dashboard_dir.display(),
            "no built dashboard there (run `npm run build` in frontend/); serving the API alone"
        );
    }
    // The dashboard is same-origin: without CORS_ORIGINS no other site's page may read.
    let cors = events_core::http::cors_layer(&config.cors.cors_origins).context("CORS_ORIGINS")?;
    let (app, gate) = auth::protect(router(state, dashboard), &config)?;
    auth::start(gate.as_ref(), config.auth.auth, &stop_background, &tasks).await;
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    tracing::info!(%address, database = %config.store.database_url, "analytics listening");
    events_core::server::serve(listener, app, config.connections.limits(), shutdown).await;
    stop_background.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!("analytics stopped");
    Ok(())
}
