//! `consumer dead-letters list` and `consumer dead-letters replay`: what an operator needs to
//! look at entries the consumer could not store and, after a fix, feed them back.

use anyhow::Context;
use clap::Subcommand;
use events_core::transport::{list_dead_letters, replay_dead_letters};

use crate::Config;

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Action {
    /// Print the oldest dead letters, one JSON object a line (id, source_id, reason,
    /// deliveries, event).
    List {
        /// How many to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Append dead letters back to the events stream (and remove them from the dead-letter
    /// stream), so that the consumer tries them again. Entries that still fail come back.
    Replay {
        /// Replay every dead letter.
        #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
        all: bool,
        /// The dead-letter ids to replay (as `list` prints them).
        ids: Vec<String>,
    },
}

pub async fn run(config: &Config, action: &Action) -> anyhow::Result<()> {
    let redis = &config.redis;
    match action {
        Action::List { limit } => {
            let letters = list_dead_letters(
                &redis.redis_url,
                &config.dead_letter_stream,
                *limit,
                redis.redis_timeout,
            )
            .await
            .context("REDIS_URL")?;
            for letter in &letters {
                println!("{}", serde_json::to_string(letter)?);
            }
            eprintln!(
                "{} dead letter(s) in {}",
                letters.len(),
                config.dead_letter_stream
            );
            Ok(())
        }
        Action::Replay { ids, .. } => {
            let outcome = replay_dead_letters(
                &redis.redis_url,
                &config.dead_letter_stream,
                &config.events_stream,
                ids,
                redis.redis_timeout,
            )
            .await
            .context("REDIS_URL")?;
            eprintln!(
                "replayed {} dead letter(s) into {}; skipped {} without an event",
                outcome.replayed, config.events_stream, outcome.skipped
            );
            Ok(())
        }
    }
}
