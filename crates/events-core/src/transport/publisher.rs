//! Ingestion's side of Redis: appending events to the stream and publishing them on the
//! channel, in one round trip, within `REDIS_TIMEOUT`.

use std::sync::Arc;
use std::time::Duration;

use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{OnceCell, mpsc, oneshot};

use super::{EVENT_FIELD, TransportError};

/// The most events one group commit sends in one pipeline.
const MAX_GROUP_EVENTS: usize = 1000;

/// Publishes events for ingestion. Connects lazily and reconnects by itself, so ingestion
/// starts and keeps answering (503) while Redis is away.
///
/// Concurrent requests are committed together: one task takes every publish waiting at that
/// moment and sends them to Redis as one pipeline, then answers each. Under load this turns
/// many small round trips (and their system calls, on both sides) into a few large ones;
/// alone, a request goes out at once as before.
pub struct Publisher {
    redis: Arc<Redis>,
    jobs: mpsc::Sender<Job>,
}

/// Events waiting to be published, and who waits for the answer.
struct Job {
    payloads: Vec<String>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The connection and names, shared with the group-commit task.
struct Redis {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    stream: String,
    channel: String,
    timeout: Duration,
}

impl Publisher {
    /// Must be called inside a Tokio runtime: it starts the group-commit task, which ends
    /// when the publisher is dropped.
    pub fn new(
        redis_url: &str,
        stream: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let redis = Arc::new(Redis {
            client: Client::open(redis_url)?,
            connection: OnceCell::new(),
            stream: stream.to_owned(),
            channel: channel.to_owned(),
            timeout,
        });
        let (jobs, queue) = mpsc::channel(4 * MAX_GROUP_EVENTS);
        tokio::spawn(commit_groups(Arc::clone(&redis), queue));
        Ok(Publisher { redis, jobs })
    }

    /// Appends each payload to the stream and publishes it on the channel, in one round trip
    /// shared with whatever else is being published at the moment. `Ok` means Redis holds
    /// every one of them; an error comes within `REDIS_TIMEOUT`.
    pub async fn publish(&self, payloads: Vec<String>) -> Result<(), TransportError> {
        let timeout = self.redis.timeout;
        let (done, answer) = oneshot::channel();
        let queued_and_answered = async {
            self.jobs
                .send(Job { payloads, done })
                .await
                .map_err(|_| TransportError::Protocol("the publisher has stopped".into()))?;
            answer
                .await
                .map_err(|_| TransportError::Protocol("the publisher has stopped".into()))?
                .map_err(TransportError::Publish)
        };
        tokio::time::timeout(timeout, queued_and_answered)
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
    }

    /// How many entries the stream holds: the events not yet acknowledged by the consumer
    /// group, plus at most one trim step of acknowledged ones (the consumer trims behind its
    /// acknowledgements).
    pub async fn backlog(&self) -> Result<u64, TransportError> {
        let redis = &self.redis;
        redis
            .within_timeout(async {
                let mut connection = redis.connection().await?;
                let length: u64 = redis::cmd("XLEN")
                    .arg(&redis.stream)
                    .query_async(&mut connection)
                    .await?;
                Ok(length)
            })
            .await
    }

    /// Whether Redis answers a PING in time.
    pub async fn ping(&self) -> Result<(), TransportError> {
        let redis = &self.redis;
        redis
            .within_timeout(async {
                let mut connection = redis.connection().await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await?;
                Ok(())
            })
            .await
    }
}

/// Takes every job waiting, publishes them in one pipeline, answers each; until the
/// publisher is dropped.
async fn commit_groups(redis: Arc<Redis>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut events = first.payloads.len();
        let mut group = vec![first];
        while events < MAX_GROUP_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.payloads.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        // A request that gave up (timed out) was answered 503: do not publish its events.
        group.retain(|job| !job.done.is_closed());
        if group.is_empty() {
            continue;
        }
        let result = redis
            .publish_now(group.iter().flat_map(|job| &job.payloads))
            .await
            .map_err(|e| e.to_string());
        for job in group {
            let _ = job.done.send(result.clone());
        }
    }
}

impl Redis {
    /// One pipeline: `XADD` and `PUBLISH` for each payload.
    async fn publish_now<'a>(
        &self,
        payloads: impl Iterator<Item = &'a String>,
    ) -> Result<(), TransportError> {
        let mut pipe = redis::pipe();
        for payload in payloads {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg(EVENT_FIELD)
                .arg(payload)
                .ignore();
            pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
        }
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            pipe.query_async::<()>(&mut connection).await?;
            Ok(())
        })
        .await
    }

    async fn connection(&self) -> Result<ConnectionManager, TransportError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(connection.clone())
    }

    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))?
    }
}
