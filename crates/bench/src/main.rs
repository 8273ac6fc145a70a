//! `bench`: measures the pipeline side by side with its ceilings, on this machine, in one run.
//!
//! | module | owns |
//! |---|---|
//! | [`load`] | the HTTP load generator (keep-alive connections, latency percentiles, pacing) |
//! | [`ceiling`] | the bare axum handler that only parses the JSON: ingestion's ceiling |
//! | [`stack`] | starting Redis and the release binaries, reading their peak memory |
//! | [`phases`] | each measurement: ingestion, batch, consumer drain, sustained rate, queries |
//! | [`report`] | the table |
//! | [`store_location`] | each phase's store: a SQLite file, or a database on `DATABASE_URL=postgres://…` |

mod ceiling;
mod load;
mod phases;
mod report;
mod stack;
mod store_location;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// Benchmarks ingestion, the consumer and the analytics query against their ceilings.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Length of each HTTP load phase.
    #[arg(long, global = true, default_value = "10s", value_parser = events_core::config::parse_duration)]
    duration: Duration,

    /// Concurrent HTTP connections.
    #[arg(long, global = true, default_value_t = 50)]
    connections: usize,

    /// Events in the consumer's drain backlog.
    #[arg(long, default_value_t = 200_000)]
    drain_events: usize,

    /// Events in the store for the query comparison.
    #[arg(long, default_value_t = 1_000_000)]
    query_events: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the ceiling: a bare axum handler that parses the event JSON and answers 202.
    CeilingServer {
        #[arg(long)]
        addr: String,
    },
    /// Load a running ingestion service alone (for profiling): single events, or batches.
    Load {
        /// Ingestion's address, such as 127.0.0.1:8080.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Send batches of 100 events to /v1/events/batch instead of single events.
        #[arg(long)]
        batch: bool,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = match args.command {
        Some(Command::CeilingServer { addr }) => ceiling::serve(&addr).await,
        Some(Command::Load { addr, batch }) => {
            let result = phases::load_only(addr, batch, args.connections, args.duration).await;
            println!(
                "{:.0} requests/s answered 202 (p50 {:?}, p99 {:?}), {} failed",
                result.requests_per_second(),
                result.latency(0.5),
                result.latency(0.99),
                result.failed
            );
            Ok(())
        }
        None => run(&args).await,
    };
    events_core::exit::or_exit(result);
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let settings = phases::Settings {
        duration: args.duration,
        connections: args.connections,
        drain_events: args.drain_events,
        query_events: args.query_events,
    };
    let report = phases::run_all(&settings).await?;
    println!("{}", report.render());
    Ok(())
}
