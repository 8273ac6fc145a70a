//! The consumer: reads events from Redis, batches them, and writes each batch to the store in
//! one transaction before acknowledging it.
//!
//! | module | owns |
//! |---|---|
//! | [`batch`] | the pure batching rule (size or timeout) |
//! | [`sink`] | writing a batch to the store off the async runtime |
//! | [`stream_worker`] | the default source: the stream, through a consumer group, acknowledged after commit |
//! | [`pubsub_worker`] | `--source pubsub`: the channel, as the original did (at-most-once) |
//! | [`backoff`] | the retry delays after Redis or store failures |
//! | [`health`] | the small HTTP listener at `CONSUMER_METRICS_ADDR` |
//! | [`status`] | what `/ready` reports: the last Redis and store failures |
//! | [`day_rollups`] | the writer's background work: people of ended days, retention |
//! | [`dead_letters_cli`] | the `dead-letters list` and `dead-letters replay` subcommands |

pub mod backoff;
pub mod batch;
pub mod day_rollups;
pub mod dead_letters_cli;
pub mod health;
pub mod pubsub_worker;
pub mod sink;
pub mod status;
pub mod stream_worker;

use std::time::Duration;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use events_core::config::{EventRulesArgs, LogArgs, RedisArgs, StoreArgs, parse_duration};
use events_core::store::Synchronous;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::sink::Sink;
use crate::status::Status;

/// Reads shop events from Redis, batches them and writes them to the store.
#[derive(Debug, Clone, Parser)]
#[command(name = "consumer", version, about)]
pub struct Config {
    /// Without a command, the consumer runs until SIGINT/SIGTERM.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where events come from: `stream` (durable, acknowledged after commit) or `pubsub` (the
    /// original's at-most-once channel: events sent while the consumer is down are lost).
    #[arg(long, env = "CONSUMER_SOURCE", default_value = "stream", value_enum)]
    pub source: Source,

    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Flush a batch once it holds this many events (1-100000).
    #[arg(long, env = "BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// Flush a batch this long after its first event arrived (`250ms`, `5s`, `1m`).
    #[arg(long, env = "BATCH_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub batch_timeout: Duration,

    /// The Redis stream to read.
    #[arg(long, env = "EVENTS_STREAM", default_value = "analytics:events:stream")]
    pub events_stream: String,

    /// The pub/sub channel, for `--source pubsub`.
    #[arg(long, env = "EVENTS_CHANNEL", default_value = "analytics:events")]
    pub events_channel: String,

    /// The consumer group; consumers in one group share the work.
    #[arg(long, env = "CONSUMER_GROUP", default_value = "analytics")]
    pub consumer_group: String,

    /// This consumer's name in the group; keep it stable across restarts so that a restarted
    /// consumer finds its own pending entries. Defaults to the host name.
    #[arg(long, env = "CONSUMER_NAME", default_value_t = default_consumer_name())]
    pub consumer_name: String,

    /// Where the consumer answers `GET /health` (for container health checks).
    #[arg(long, env = "CONSUMER_METRICS_ADDR", default_value = "127.0.0.1:9102")]
    pub consumer_metrics_addr: String,

    /// Entries pending on another consumer for this long are claimed: that consumer is taken
    /// for dead. Longer than a batch takes to write (`30s`).
    #[arg(long, env = "CLAIM_IDLE", default_value = "30s", value_parser = parse_duration)]
    pub claim_idle: Duration,

    /// An entry delivered more often than this without being stored (it kept crashing or
    /// stalling consumers) goes to the dead-letter stream.
    #[arg(long, env = "MAX_DELIVERIES", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_deliveries: u64,

    /// Raw events and per-visitor or per-session rows older than this many days are deleted
    /// once a day (the summed rollups stay); empty keeps everything.
    #[arg(long, env = "RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,

    /// SQLite durability: `normal` (survives process crashes; a power loss may undo the last
    /// seconds of commits) or `full` (every commit fsynced; several times slower). PostgreSQL
    /// keeps its own settings (`synchronous_commit`).
    #[arg(long, env = "SQLITE_SYNCHRONOUS", default_value = "normal", value_enum)]
    pub sqlite_synchronous: Synchronous,

    /// Where entries that cannot be stored go, with the reason and their delivery count.
    #[arg(
        long,
        env = "DEAD_LETTER_STREAM",
        default_value = "analytics:events:dead"
    )]
    pub dead_letter_stream: String,

    /// Every entry is validated again as ingestion validates an event (`MAX_EVENT_AGE`
    /// included); what fails goes to the dead-letter stream with the reason.
    #[command(flatten)]
    pub rules: EventRulesArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Inspect or replay the dead-letter stream.
    #[command(subcommand)]
    DeadLetters(dead_letters_cli::Action),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    Stream,
    #[value(name = "pubsub")]
    PubSub,
}

fn default_consumer_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Runs the subcommand, or else the consumer until `shutdown` is cancelled and what it holds
/// is written.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    match &config.command {
        Some(Command::DeadLetters(action)) => dead_letters_cli::run(&config, action).await,
        None => consume(config, shutdown).await,
    }
}

/// The worker runs in this task; the health listener and the day roll-ups run on a
/// [`TaskTracker`] and are stopped and awaited after the worker has written and acknowledged
/// what it holds, so nothing runs once this returns.
async fn consume(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    events_core::prometheus::handle();
    let listener =
        events_core::http::bind("CONSUMER_METRICS_ADDR", &config.consumer_metrics_addr).await?;
    let path = config.store.database_url.clone();
    let sink = Sink::open(path, config.sqlite_synchronous)
        .await
        .context("DATABASE_URL")?;
    let status = Arc::new(Status::default());
    let tasks = TaskTracker::new();
    let stop_background = CancellationToken::new();
    let _stop_background_on_return = stop_background.clone().drop_guard();
    tasks.spawn(health::serve(
        listener,
        Arc::clone(&status),
        stop_background.clone(),
    ));
    tasks.spawn(day_rollups::run(
        sink.clone(),
        config.retention_days,
        stop_background.clone(),
    ));
    let result = match config.source {
        Source::Stream => stream_worker::run(&config, sink, status, shutdown).await,
        Source::PubSub => pubsub_worker::run(&config, sink, status, shutdown).await,
    };
    stop_background.cancel();
    tasks.close();
    tasks.wait().await;
    result
}
