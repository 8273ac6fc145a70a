//! The ingestion service: `POST /v1/events` and `/v1/events/batch` validate events and append
//! them to Redis, answering `202` only once Redis holds them.
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | the handlers and the router |
//! | [`openapi`] | the OpenAPI document's shared parts and `/v1/openapi.json` |
//! | [`error`] | the one error type and its JSON answers |
//! | [`backlog`] | refusing events past `MAX_BACKLOG` and `MAX_BACKLOG_BYTES` |
//! | [`auth`] | API keys and their scopes, rate limits, CORS (docs/SECURITY.md) |
//! | [`tracker`] | `GET /t.js`, the script a storefront embeds |
//! | [`visits`] | cookieless visitor ids and 30-minute sessions, kept in Redis |
//! | [`derive`] | device, browser, os, bots and country from the shopper's user agent and IP |

pub mod auth;
pub mod backlog;
pub mod derive;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod tracker;
pub mod visits;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Parser;
use events_core::config::{ConnectionArgs, CorsArgs, EventRulesArgs, LogArgs, RedisArgs};
use events_core::event::EventRules;
use events_core::keys::access::{AuthArgs, Gate};
use events_core::transport::{BacklogSize, Publisher};

use crate::backlog::Backlog;
use crate::derive::geo::Geo;
use crate::visits::Visits;
use events_core::transport::LazyConnection;

/// The prefix of the Redis keys of cookieless salts and sessions.
pub const VISITS_PREFIX: &str = "analytics:";
use events_core::keys::client::TrustedProxies;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

    /// Refuse events (503) while the unacknowledged events take more than this in Redis
    /// (`1GiB`, `512MiB`, or a number of bytes).
    #[arg(long, env = "MAX_BACKLOG_BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub max_backlog_bytes: u64,

    /// Where `GET /metrics` is served: an internal address, not the public port.
    #[arg(long, env = "INGESTION_METRICS_ADDR", default_value = "127.0.0.1:9100")]
    pub ingestion_metrics_addr: String,

    #[command(flatten)]
    pub rules: EventRulesArgs,

    #[command(flatten)]
    pub connections: ConnectionArgs,

    #[command(flatten)]
    pub cors: CorsArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Requests per second per write or public key (a batch is one request), with bursts of
    /// the same size; `429` beyond.
    #[arg(long, env = "RATE_LIMIT_WRITE", default_value = "1000")]
    pub rate_limit_write: NonZeroU32,

    /// A MaxMind-format country database (GeoLite2-Country.mmdb or GeoIP2) giving each event's
    /// `country` from the shopper's IP address; without it `country` is null.
    #[arg(long, env = "GEOIP_DB")]
    pub geoip_db: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What every handler shares.
pub struct AppState {
    pub publisher: Arc<Publisher>,
    pub backlog: Arc<Backlog>,
    /// `MAX_EVENT_AGE` and the other configured rules.
    pub rules: EventRules,
    /// How long a client should wait before retrying after a `503`.
    pub retry_after: Duration,
    /// `GEOIP_DB`, open.
    pub geo: Option<Geo>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` gives a browser's address.
    pub proxies: TrustedProxies,
    /// Visitor ids and sessions for events without them.
    pub visits: Visits,
}

/// Binds `INGESTION_ADDR` and serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = events_core::http::bind("INGESTION_ADDR", &config.ingestion_addr).await?;
    let metrics =
        events_core::http::bind("INGESTION_METRICS_ADDR", &config.ingestion_metrics_addr).await?;
    serve(config, listener, metrics, shutdown).await
}

/// Serves on already bound listeners, the public one and the one for `/metrics` (tests pass
/// them on port 0).
///
/// Shutdown: `shutdown` stops accepting and waits for the requests in flight; only then are the
/// background tasks (the `/metrics` listener, the backlog watcher, the key cache's refresh)
/// stopped, and each is awaited before this returns, so nothing runs after it.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    events_core::prometheus::handle();
    let (app, state, gate) = build(&config)?;
    let address = listener.local_addr().context("INGESTION_ADDR")?;
    let tasks = TaskTracker::new();
    let stop_background = CancellationToken::new();
    let _stop_background_on_return = stop_background.clone().drop_guard();
    tasks.spawn(events_core::prometheus::serve_metrics(
        metrics,
        stop_background.clone(),
    ));
    auth::start(gate.as_ref(), config.auth.auth, &stop_background, &tasks).await;
    tasks.spawn(backlog::watch(
        Arc::clone(&state.backlog),
        Arc::clone(&state.publisher),
        stop_background.clone(),
    ));
    tracing::info!(%address, stream = %config.events_stream, "ingestion listening");
    events_core::server::serve(listener, app, config.connections.limits(), shutdown).await;
    stop_background.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!("ingestion stopped");
    Ok(())
}

/// The application as `serve` runs it (router, state, CORS), without a socket: for tests
/// that send requests straight to the router.
pub fn build_router(config: &Config) -> anyhow::Result<Router> {
    Ok(build(config)?.0)
}

type Built = (Router, Arc<AppState>, Option<Arc<Gate>>);

fn build(config: &Config) -> anyhow::Result<Built> {
    let publisher = Publisher::new(
        &config.redis.redis_url,
        &config.events_stream,
        &config.events_channel,
        config.redis.redis_timeout,
    )
    .context("REDIS_URL")?;
    let state = Arc::new(AppState {
        publisher: Arc::new(publisher),
        backlog: Arc::new(Backlog::new(BacklogSize {
            events: config.max_backlog,
            bytes: config.max_backlog_bytes,
        })),
        rules: config.rules.rules(),
        retry_after: Duration::from_secs(1),
        geo: config
            .geoip_db
            .as_deref()
            .map(Geo::open)
            .transpose()
            .context("GEOIP_DB")?,
        proxies: config.auth.trusted_proxies.clone(),
        visits: Visits::new(
            LazyConnection::open(&config.redis.redis_url, config.redis.redis_timeout)
                .context("REDIS_URL")?,
            VISITS_PREFIX,
        ),
    });
    let (app, gate) = auth::protect(router(Arc::clone(&state)), config)?;
    Ok((app, state, gate))
}

/// A size `parse_bytes` cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a size such as 1GiB, 512MiB or 1000000")]
pub struct NotASize(String);

/// A size in bytes: a number, or a number with a binary unit (`KiB`, `MiB`, `GiB`) or a
/// decimal one (`KB`, `MB`, `GB`).
pub fn parse_bytes(text: &str) -> Result<u64, NotASize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(NotASize(text.to_owned())),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&n| n > 0)
        .ok_or_else(|| NotASize(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1 parsec").is_err());
    }
}
