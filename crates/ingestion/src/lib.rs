//! The ingestion service: `POST /v1/events` and `/v1/events/batch` validate events and append
//! them to Redis, answering `202` only once Redis holds them.
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | the handlers and the router |
//! | [`error`] | the one error type and its JSON answers |
//! | [`backlog`] | refusing events past `MAX_BACKLOG` |
//! | [`auth`] | API keys and their scopes, rate limits, CORS (§11) |

pub mod auth;
pub mod backlog;
pub mod error;
pub mod routes;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Parser;
use events_core::config::{CorsArgs, LogArgs, RedisArgs};
use events_core::keys::access::{AuthArgs, Gate};
use events_core::transport::Publisher;

use crate::backlog::Backlog;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::router;

/// Accepts shop events over HTTP and hands them to Redis.
#[derive(Debug, Clone, Parser)]
#[command(name = "ingestion", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "INGESTION_ADDR", default_value = "0.0.0.0:8080")]
    pub ingestion_addr: String,

    #[command(flatten)]
    pub redis: RedisArgs,

    /// The Redis stream events are appended to (read by the consumer).
    #[arg(long, env = "EVENTS_STREAM", default_value = "analytics:events:stream")]
    pub events_stream: String,

    /// The Redis pub/sub channel each event is also published on.
    #[arg(long, env = "EVENTS_CHANNEL", default_value = "analytics:events")]
    pub events_channel: String,

    /// Refuse events (503) while more than this many are waiting in Redis unacknowledged.
    #[arg(long, env = "MAX_BACKLOG", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backlog: u64,

    #[command(flatten)]
    pub cors: CorsArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Requests per second per write or public key (a batch is one request), with bursts of
    /// the same size; `429` beyond.
    #[arg(long, env = "RATE_LIMIT_WRITE", default_value = "1000")]
    pub rate_limit_write: NonZeroU32,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What every handler shares.
pub struct AppState {
    pub publisher: Arc<Publisher>,
    pub backlog: Arc<Backlog>,
    /// How long a client should wait before retrying after a `503`.
    pub retry_after: Duration,
}

/// Binds `INGESTION_ADDR` and serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), String> {
    let listener = events_core::http::bind("INGESTION_ADDR", &config.ingestion_addr).await?;
    serve(config, listener, shutdown).await
}

/// Serves on an already bound listener (tests pass one on port 0).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), String> {
    events_core::telemetry::prometheus();
    let (app, state, gate) = build(&config)?;
    auth::start(gate.as_ref(), config.auth.auth, shutdown.clone()).await;
    let stop_watching = CancellationToken::new();
    tokio::spawn(backlog::watch(
        Arc::clone(&state.backlog),
        Arc::clone(&state.publisher),
        stop_watching.clone(),
    ));
    let _stop_watching_on_return = stop_watching.drop_guard();
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, stream = %config.events_stream, "ingestion listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("ingestion stopped");
    Ok(())
}

/// The application as `serve` runs it (router, state, CORS), without a socket: for tests
/// that send requests straight to the router.
pub fn build_router(config: &Config) -> Result<Router, String> {
    Ok(build(config)?.0)
}

type Built = (Router, Arc<AppState>, Option<Arc<Gate>>);

fn build(config: &Config) -> Result<Built, String> {
    let publisher = Publisher::new(
        &config.redis.redis_url,
        &config.events_stream,
        &config.events_channel,
        config.redis.redis_timeout,
    )
    .map_err(|e| format!("REDIS_URL: {e}"))?;
    let state = Arc::new(AppState {
        publisher: Arc::new(publisher),
        backlog: Arc::new(Backlog::new(config.max_backlog)),
        retry_after: Duration::from_secs(1),
    });
    let (app, gate) = auth::protect(router(Arc::clone(&state)), config)?;
    Ok((app, state, gate))
}
