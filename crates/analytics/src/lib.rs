//! The analytics service: computes the metrics JSON from the store and serves the built
//! dashboard.
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | the router and one module per endpoint |
//! | [`filters`] | the §10 filter parameters (segments), read into one `Filters` |
//! | [`params`] | query-string parsing: shops, ranges, time zones, refusals naming the parameter |
//! | [`buckets`] | calendar buckets in a time zone (DST, half-hour offsets, Monday weeks) |
//! | [`csv`] | spreadsheet-safe CSV cells |
//! | [`error`] | the one error type and its JSON answers |
//! | [`limits`] | `MAX_QUERIES` and `MAX_LIVE_STREAMS`: how much work runs at once |
//! | [`static_files`] | the built dashboard, served only from inside `DASHBOARD_DIR` |
//! | [`auth`] | read keys and their shop scope, rate limits, the per-key live-stream cap (docs/SECURITY.md) |
//! | [`keys_cli`] | `analytics keys create|list|revoke` |

pub mod auth;
pub mod buckets;
pub mod csv;
pub mod error;
pub mod filters;
pub mod keys_cli;
pub mod limits;
pub mod params;
pub mod routes;
pub mod static_files;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use events_core::config::{
    ConnectionArgs, CorsArgs, LogArgs, RedisArgs, StoreArgs, parse_positive_usize,
};
use events_core::keys::access::AuthArgs;
use events_core::store::ReadPool;
use events_core::store::live::Stored;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

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
    pub store: Arc<ReadPool>,
    /// What the live watcher noticed, for `/api/v1/live` streams.
    pub live: broadcast::Sender<Stored>,
    /// Cancelled at shutdown, which ends the live streams.
    pub shutdown: CancellationToken,
    /// `MAX_QUERIES`: a slot for every query that reads the store.
    pub queries: limits::Slots,
    /// `MAX_LIVE_STREAMS`.
    pub live_streams: limits::Slots,
}

/// Binds `ANALYTICS_ADDR` and serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), String> {
    let listener = events_core::http::bind("ANALYTICS_ADDR", &config.analytics_addr).await?;
    let metrics =
        events_core::http::bind("ANALYTICS_METRICS_ADDR", &config.analytics_metrics_addr).await?;
    serve(config, listener, metrics, shutdown).await
}

/// Serves on already bound listeners, the public one and the one for `/metrics` (tests pass
/// them on port 0).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), String> {
    events_core::telemetry::prometheus();
    let stop_metrics = CancellationToken::new();
    tokio::spawn(events_core::telemetry::serve_metrics(
        metrics,
        stop_metrics.clone(),
    ));
    let _stop_metrics_on_return = stop_metrics.drop_guard();
    let path = config.store.database_url.clone();
    let store = tokio::task::spawn_blocking(move || ReadPool::open(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    let (live, _) = broadcast::channel(16);
    routes::live::start_watcher(
        config.store.database_url.clone(),
        live.clone(),
        shutdown.clone(),
    )?;
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
    let cors = events_core::http::cors_layer(&config.cors.cors_origins)
        .map_err(|e| format!("CORS_ORIGINS: {e}"))?;
    let (app, gate) = auth::protect(router(state, dashboard), &config)?;
    auth::start(gate.as_ref(), config.auth.auth, shutdown.clone()).await;
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, database = %config.store.database_url.display(), "analytics listening");
    events_core::server::serve(listener, app, config.connections.limits(), shutdown).await?;
    tracing::info!("analytics stopped");
    Ok(())
}
