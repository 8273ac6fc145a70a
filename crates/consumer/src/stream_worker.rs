//! The default source: the Redis stream, read through a consumer group.
//!
//! An entry is acknowledged only after the batch holding it is committed, so a crash at any
//! point leaves it pending, and a restarted consumer (same `CONSUMER_NAME`) reads its own
//! pending entries first. The insert is idempotent, so reading an entry twice stores it once.

use std::sync::Arc;
use std::time::Duration;

use events_core::event::Event;
use events_core::transport::{GroupReader, ReadFrom, StreamEntry, TransportError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::sink::Sink;

/// The longest a read blocks, so that a shutdown is noticed within about this long.
const MAX_BLOCK: Duration = Duration::from_secs(1);

/// One event read from the stream, with the entry id to acknowledge once it is stored.
struct Pending {
    entry_id: String,
    event: Event,
}

/// Runs until `shutdown`, then writes and acknowledges what it holds and returns.
pub async fn run(config: &Config, sink: Sink, shutdown: CancellationToken) -> Result<(), String> {
    let mut worker = StreamWorker {
        config: config.clone(),
        sink,
        batch: Batch::new(config.batch_size as usize, config.batch_timeout),
        reader: None,
        pending_cursor: Some("0".to_owned()),
        redis_backoff: Backoff::default(),
        shutdown,
    };
    tracing::info!(
        stream = %config.events_stream,
        group = %config.consumer_group,
        consumer = %config.consumer_name,
        batch_size = config.batch_size,
        batch_timeout = ?config.batch_timeout,
        "consumer reading the stream"
    );
    worker.run().await
}

struct StreamWorker {
    config: Config,
    sink: Sink,
    batch: Batch<Pending>,
    reader: Option<GroupReader>,
    /// While `Some`, this consumer is re-reading its own pending entries after this id;
    /// `None` once they are all taken and it reads new entries.
    pending_cursor: Option<String>,
    redis_backoff: Backoff,
    shutdown: CancellationToken,
}

impl StreamWorker {
    async fn run(&mut self) -> Result<(), String> {
        while !self.shutdown.is_cancelled() {
            if let Err(error) = self.read_once().await {
                tracing::warn!(%error, "Redis read failed; reconnecting");
                self.reader = None;
                let delay = self.redis_backoff_delay();
                self.pause(delay).await;
            }
            if self.batch.is_due(Instant::now()) {
                self.flush().await?;
            }
        }
        self.flush().await?;
        tracing::info!("consumer stopped; everything read was written and acknowledged");
        Ok(())
    }

    fn redis_backoff_delay(&mut self) -> Duration {
        self.redis_backoff.next_delay()
    }

    /// One read: pending entries first, then new ones, waiting at most until the batch is due.
    async fn read_once(&mut self) -> Result<(), TransportError> {
        self.connect_if_needed().await?;
        let room = self.batch.room();
        let block = match self.batch.deadline() {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(MAX_BLOCK),
            None => MAX_BLOCK,
        };
        let cursor = self.pending_cursor.clone();
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| TransportError::Protocol("not connected".into()))?;
        let entries = match cursor {
            Some(after) => {
                let entries = reader
                    .read(ReadFrom::Pending { after: &after }, room, Duration::ZERO)
                    .await?;
                match entries.last() {
                    Some(last) => self.pending_cursor = Some(last.id.clone()),
                    None => {
                        tracing::debug!("own pending entries all re-read");
                        self.pending_cursor = None;
                    }
                }
                entries
            }
            None => reader.read(ReadFrom::New, room, block).await?,
        };
        self.redis_backoff.reset();
        for entry in entries {
            self.accept(entry).await?;
        }
        Ok(())
    }

    /// Adds a decodable entry to the batch; moves anything else to the dead-letter stream.
    async fn accept(&mut self, entry: StreamEntry) -> Result<(), TransportError> {
        let decoded = match &entry.payload {
            Some(json) => Event::from_transport(json),
            None => Err("the entry has no `event` field".to_owned()),
        };
        match decoded {
            Ok(event) => {
                self.batch.push(
                    Pending {
                        entry_id: entry.id,
                        event,
                    },
                    Instant::now(),
                );
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(entry_id = %entry.id, %reason, "moving entry to the dead-letter stream");
                self.connect_if_needed().await?;
                let reader = self
                    .reader
                    .as_mut()
                    .ok_or_else(|| TransportError::Protocol("not connected".into()))?;
                reader
                    .dead_letter(&self.config.dead_letter_stream, &entry, &reason)
                    .await
            }
        }
    }

    async fn connect_if_needed(&mut self) -> Result<(), TransportError> {
        if self.reader.is_none() {
            let reader = GroupReader::connect(
                &self.config.redis.redis_url,
                &self.config.events_stream,
                &self.config.consumer_group,
                &self.config.consumer_name,
                self.config.redis.redis_timeout,
            )
            .await?;
            tracing::info!("connected to Redis");
            // After a reconnect, entries delivered by a read that failed half-way are pending
            // on this consumer: read them again.
            self.pending_cursor = Some("0".to_owned());
            self.reader = Some(reader);
        }
        Ok(())
    }

    /// Writes the batch, then acknowledges it. A store failure is retried with backoff (the
    /// entries stay pending in Redis meanwhile); during shutdown the failure is returned and
    /// the entries stay pending for the next start.
    async fn flush(&mut self) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let pending = self.batch.take();
        let (ids, events): (Vec<String>, Vec<Event>) =
            pending.into_iter().map(|p| (p.entry_id, p.event)).unzip();
        let events: Arc<[Event]> = events.into();
        let started = Instant::now();
        let mut store_backoff = Backoff::default();
        let outcome = loop {
            match self.sink.write(Arc::clone(&events)).await {
                Ok(outcome) => break outcome,
                Err(error) if self.shutdown.is_cancelled() => {
                    return Err(format!(
                        "could not write the last batch ({error}); its {} events stay pending in Redis \
                         and will be read again at the next start",
                        events.len()
                    ));
                }
                Err(error) => {
                    let delay = store_backoff.next_delay();
                    tracing::error!(%error, batch_len = events.len(), retry_in = ?delay, "store write failed; retrying");
                    self.pause(delay).await;
                }
            }
        };
        tracing::debug!(
            batch_len = events.len(),
            inserted = outcome.inserted,
            duplicates = outcome.duplicates,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch committed"
        );
        self.acknowledge(&ids).await
    }

    /// Acknowledges committed entries, retrying through Redis outages: until acknowledged they
    /// would be read again (harmlessly, the insert being idempotent) only after a restart.
    async fn acknowledge(&mut self, ids: &[String]) -> Result<(), String> {
        loop {
            let result = match self.connect_if_needed().await {
                Ok(()) => match self.reader.as_mut() {
                    Some(reader) => reader.ack(ids).await,
                    None => Err(TransportError::Protocol("not connected".into())),
                },
                Err(error) => Err(error),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(error) if self.shutdown.is_cancelled() => {
                    return Err(format!(
                        "the last batch is stored but could not be acknowledged ({error}); \
                         it will be read again at the next start and skipped as already stored"
                    ));
                }
                Err(error) => {
                    let delay = self.redis_backoff_delay();
                    tracing::warn!(%error, retry_in = ?delay, "acknowledging failed; retrying");
                    self.reader = None;
                    self.pause(delay).await;
                }
            }
        }
    }

    /// Sleeps, waking early on shutdown.
    async fn pause(&self, delay: Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.shutdown.cancelled() => {}
        }
    }
}
