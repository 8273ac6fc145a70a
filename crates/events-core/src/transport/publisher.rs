//! Ingestion's side of Redis: appending events to the stream and publishing them on the
//! channel, in one round trip, within `REDIS_TIMEOUT`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::transport::LazyConnection;
use redis::aio::ConnectionManager;

use super::{EVENT_FIELD, TransportError};

/// The unacknowledged backlog: entries in the stream and the memory they take in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BacklogSize {
    pub events: u64,
    pub bytes: u64,
}

/// Publishes events for ingestion. Connects lazily and reconnects by itself, so ingestion
/// starts and keeps answering (503) while Redis is away.
pub struct Publisher {
    redis: LazyConnection,
    stream: String,
    channel: String,
    /// Set once Redis refused `MEMORY USAGE`.
    memory_usage_refused: AtomicBool,
}

impl Publisher {
    pub fn new(
        redis_url: &str,
        stream: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        Ok(Publisher {
            redis: LazyConnection::open(redis_url, timeout)?,
            stream: stream.to_owned(),
            channel: channel.to_owned(),
            memory_usage_refused: AtomicBool::new(false),
        })
    }

    /// Appends each payload to the stream and publishes it on the channel, all in one round
    /// trip. `Ok` means Redis holds every one of them.
    ///
    /// The payloads are dropped once copied into the commands, so that a request waiting for
    /// Redis holds its events once (as commands) rather than twice.
    pub async fn publish(&self, payloads: Vec<String>) -> Result<(), TransportError> {
        let pipe = self.pipeline(&payloads);
        drop(payloads);
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            pipe.query_async::<()>(&mut connection).await?;
            Ok(())
        })
        .await
    }

    /// `XADD` and `PUBLISH` for each payload, each command's buffer sized to fit. No reply is
    /// marked ignored: the caller reads none, and a server error in any reply fails the
    /// whole pipeline either way.
    fn pipeline(&self, payloads: &[String]) -> redis::Pipeline {
        let mut pipe = redis::Pipeline::with_capacity(2 * payloads.len());
        for payload in payloads {
            let xadd_bytes =
                "XADD".len() + self.stream.len() + 1 + EVENT_FIELD.len() + payload.len();
            let mut xadd = redis::Cmd::with_capacity(5, xadd_bytes);
            xadd.arg("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg(EVENT_FIELD)
                .arg(payload);
            let publish_bytes = "PUBLISH".len() + self.channel.len() + payload.len();
            let mut publish = redis::Cmd::with_capacity(3, publish_bytes);
            publish.arg("PUBLISH").arg(&self.channel).arg(payload);
            pipe.add_command(xadd).add_command(publish);
        }
        pipe
    }

    /// How many entries the stream holds — the events not yet acknowledged by the consumer
    /// group, plus at most one trim step of acknowledged ones (the consumer trims behind its
    /// acknowledgements) — and the bytes of Redis memory it takes, in one round trip.
    ///
    /// The bytes are Redis's own figure (`MEMORY USAGE … SAMPLES 5`: it averages five of the
    /// stream's nodes and multiplies by their number, so it costs the same at any length) and
    /// count what events really cost there, entry overhead and other instances' events
    /// included, which counting the bytes this instance publishes could not.
    ///
    /// A Redis that refuses `MEMORY` (a managed service, an ACL) is told once in the log and
    /// then asked the length alone: the byte limit cannot hold there, the count limit still
    /// does.
    pub async fn backlog(&self) -> Result<BacklogSize, TransportError> {
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            let mut length = redis::cmd("XLEN");
            length.arg(&self.stream);
            if self.memory_usage_refused.load(Ordering::Relaxed) {
                let events: u64 = length.query_async(&mut connection).await?;
                return Ok(BacklogSize { events, bytes: 0 });
            }
            let mut memory = redis::cmd("MEMORY");
            memory.arg("USAGE").arg(&self.stream).arg("SAMPLES").arg(5);
            let both: Result<(u64, Option<u64>), _> = redis::pipe()
                .add_command(length)
                .add_command(memory)
                .query_async(&mut connection)
                .await;
            match both {
                Ok((events, bytes)) => Ok(BacklogSize {
                    events,
                    bytes: bytes.unwrap_or(0),
                }),
                // Redis itself refused (not the network): it will again.
                Err(error) if error.code().is_some() => {
                    tracing::warn!(%error, "Redis refuses MEMORY USAGE: MAX_BACKLOG_BYTES cannot be enforced");
                    self.memory_usage_refused.store(true, Ordering::Relaxed);
                    Err(error.into())
                }
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    /// Whether Redis answers a PING in time.
    pub async fn ping(&self) -> Result<(), TransportError> {
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok(())
        })
        .await
    }

    async fn connection(&self) -> Result<ConnectionManager, TransportError> {
        Ok(self.redis.get().await?)
    }

    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        let timeout = self.redis.timeout;
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
    }
}
