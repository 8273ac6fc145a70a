//! Redis, the hand-off between ingestion and the consumer.
//!
//! Ingestion appends each event to a stream (durable, read through a consumer group) and
//! publishes the same JSON on a pub/sub channel (for live listeners), both in one round trip.
//! The consumer reads the stream through its group and acknowledges entries only after they
//! are committed to the store, so a crash between read and commit loses nothing.

mod dead_letters;
mod group;
mod publisher;
mod reply;

use std::time::Duration;

pub use dead_letters::{DeadLetter, ReplayOutcome, list_dead_letters, replay_dead_letters};
pub use group::{GroupReader, ReadFrom};
pub use publisher::{BacklogSize, Publisher};

/// A Redis connection made on first use and re-made by itself, every connect and command
/// bounded by `timeout` with one quick retry (then the caller's own backoff), so a service
/// starts and keeps answering while Redis is away. Shared by the publisher and the key store.
pub struct LazyConnection {
    client: redis::Client,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    pub timeout: Duration,
}

impl LazyConnection {
    pub fn open(redis_url: &str, timeout: Duration) -> redis::RedisResult<LazyConnection> {
        Ok(LazyConnection {
            client: redis::Client::open(redis_url)?,
            connection: tokio::sync::OnceCell::new(),
            timeout,
        })
    }

    /// The connection, made now if it is the first use.
    pub async fn get(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(connection.clone())
    }
}

/// The one field of a stream entry, holding the event's JSON.
pub const EVENT_FIELD: &str = "event";

/// One entry read from the stream. `payload` is `None` when the entry has no readable
/// `event` field (written by something else, or trimmed away while pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: String,
    pub payload: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
}

/// Subscribes to the channel, for `consumer --source pubsub` (at-most-once, as the original).
pub async fn subscribe(
    redis_url: &str,
    channel: &str,
) -> Result<redis::aio::PubSub, TransportError> {
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}
