//! The dead-letter stream, as an operator sees it: entries the consumer could not store,
//! each with the reason and how often it was delivered, listed and replayed into the events
//! stream after a fix (`consumer dead-letters list|replay`).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::{EVENT_FIELD, TransportError};

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream.
    pub id: String,
    /// The id it had in the events stream.
    pub source_id: Option<String>,
    pub reason: Option<String>,
    pub deliveries: Option<u64>,
    /// The entry's JSON as it was received (`None` when it had no `event` field).
    pub event: Option<String>,
}

/// The oldest `limit` dead letters.
pub async fn list_dead_letters(
    redis_url: &str,
    dead_letter_stream: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<DeadLetter>, TransportError> {
    let mut connection = connect(redis_url, timeout).await?;
    read_range(&mut connection, dead_letter_stream, "-", limit, timeout).await
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub replayed: usize,
    /// Dead letters without an event to replay (left in place).
    pub skipped: usize,
}

/// Appends dead letters back to the events stream and removes them from the dead-letter
/// stream, each in one MULTI: all of them, or only those whose ids are given. An entry that
/// still cannot be stored comes back as a new dead letter.
pub async fn replay_dead_letters(
    redis_url: &str,
    dead_letter_stream: &str,
    events_stream: &str,
    only: &[String],
    timeout: Duration,
) -> Result<ReplayOutcome, TransportError> {
    let mut connection = connect(redis_url, timeout).await?;
    let mut outcome = ReplayOutcome::default();
    let mut start = "-".to_owned();
    loop {
        let page = read_range(&mut connection, dead_letter_stream, &start, 100, timeout).await?;
        let Some(last) = page.last() else { break };
        start = format!("({}", last.id);
        for letter in page {
            if !only.is_empty() && !only.contains(&letter.id) {
                continue;
            }
            let Some(event) = letter.event.as_deref().filter(|e| !e.is_empty()) else {
                outcome.skipped += 1;
                continue;
            };
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("XADD")
                .arg(events_stream)
                .arg("*")
                .arg(EVENT_FIELD)
                .arg(event)
                .ignore()
                .cmd("XDEL")
                .arg(dead_letter_stream)
                .arg(&letter.id)
                .ignore();
            within(timeout, pipe.query_async::<()>(&mut connection)).await?;
            outcome.replayed += 1;
        }
    }
    Ok(outcome)
}

async fn connect(
    redis_url: &str,
    timeout: Duration,
) -> Result<MultiplexedConnection, TransportError> {
    let client = redis::Client::open(redis_url)?;
    within(timeout, client.get_multiplexed_async_connection()).await
}

async fn read_range(
    connection: &mut MultiplexedConnection,
    stream: &str,
    start: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<DeadLetter>, TransportError> {
    let mut range = redis::cmd("XRANGE");
    range
        .arg(stream)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(limit.max(1));
    let entries: Vec<(String, HashMap<String, String>)> =
        within(timeout, range.query_async(connection)).await?;
    Ok(entries
        .into_iter()
        .map(|(id, mut fields)| DeadLetter {
            id,
            source_id: fields.remove("source_id"),
            reason: fields.remove("reason"),
            deliveries: fields.remove("deliveries").and_then(|d| d.parse().ok()),
            event: fields.remove(EVENT_FIELD),
        })
        .collect())
}

async fn within<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, TransportError> {
    Ok(tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| TransportError::Timeout(timeout))??)
}
