//! The default source: the Redis stream, read through a consumer group.
//!
//! An entry is acknowledged only after the batch holding it is committed, so a crash at any
//! point leaves it pending: a restarted consumer (same `CONSUMER_NAME`) re-reads its own
//! pending entries first, and entries left by a consumer that never came back are claimed
//! after `CLAIM_IDLE`. The insert is idempotent, so reading an entry twice stores it once.
//!
//! Entries that cannot be stored — undecodable, delivered more than `MAX_DELIVERIES` times,
//! or refused by the store for their data — move to the dead-letter stream with their reason,
//! so they never block the entries behind them. A failing store (full, locked, read-only) is
//! retried instead: nothing is acknowledged or dead-lettered because of it.

use std::collections::HashSet;
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
use crate::status::Status;

/// The longest a read blocks, so that a shutdown is noticed within about this long.
const MAX_BLOCK: Duration = Duration::from_secs(1);
/// How often the stream is trimmed behind the group's acknowledgements.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// Failed writes of a whole batch, refused for its data rather than a failing store, before
/// its events are tried one by one to find the ones at fault.
const BATCH_ATTEMPTS_BEFORE_SPLIT: u32 = 3;

/// One event read from the stream, with what is needed to acknowledge or dead-letter it.
struct Pending {
    entry: StreamEntry,
    event: Event,
    deliveries: u64,
}

/// Runs until `shutdown`, then writes and acknowledges what it holds and returns.
pub async fn run(
    config: &Config,
    sink: Sink,
    status: Arc<Status>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let now = Instant::now();
    let mut worker = StreamWorker {
        config: config.clone(),
        sink,
        status,
        batch: Batch::new(config.batch_size as usize, config.batch_timeout),
        in_batch: HashSet::new(),
        reader: None,
        pending_cursor: Some("0".to_owned()),
        next_claim: now,
        next_trim: now,
        redis_backoff: Backoff::default(),
        shutdown,
    };
    tracing::info!(
        stream = %config.events_stream,
        group = %config.consumer_group,
        consumer = %config.consumer_name,
        batch_size = config.batch_size,
        batch_timeout = ?config.batch_timeout,
        claim_idle = ?config.claim_idle,
        "consumer reading the stream"
    );
    worker.run().await
}

struct StreamWorker {
    config: Config,
    sink: Sink,
    status: Arc<Status>,
    batch: Batch<Pending>,
    /// Entry ids in the batch: an entry read twice (re-read after a reconnect, or claimed
    /// back) is kept once.
    in_batch: HashSet<String>,
    reader: Option<GroupReader>,
    /// While `Some`, this consumer is re-reading its own pending entries after this id;
    /// `None` once they are all taken and it reads new entries.
    pending_cursor: Option<String>,
    next_claim: Instant,
    next_trim: Instant,
    redis_backoff: Backoff,
    shutdown: CancellationToken,
}

impl StreamWorker {
    async fn run(&mut self) -> anyhow::Result<()> {
        while !self.shutdown.is_cancelled() {
            if let Err(error) = self.read_once().await {
                self.redis_failed(&error).await;
            }
            if self.batch.is_due(Instant::now()) {
                self.flush().await?;
            }
            self.trim_now_and_then().await;
        }
        self.flush().await?;
        tracing::info!("consumer stopped; everything read was written and acknowledged");
        Ok(())
    }

    /// One read: own pending entries first, then entries abandoned by dead consumers when a
    /// claim is due, then new ones, waiting at most until the batch is due.
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
        let claim_due = Instant::now() >= self.next_claim;
        let reader = self.reader_mut()?;
        let (entries, redelivered) = match cursor {
            Some(after) => {
                let entries = reader
                    .read(ReadFrom::Pending { after: &after }, room, Duration::ZERO)
                    .await?;
                match entries.last() {
                    Some(last) => self.pending_cursor = Some(last.id.clone()),
                    None => self.pending_cursor = None,
                }
                (entries, true)
            }
            None if claim_due => {
                let entries = self.claim_abandoned(room).await?;
                (entries, true)
            }
            None => (reader.read(ReadFrom::New, room, block).await?, false),
        };
        self.redis_backoff.reset();
        self.status.set_redis_error(None);
        self.batch.set_behind(room > 0 && entries.len() >= room);
        self.accept_all(entries, redelivered).await
    }

    /// Claims entries pending on other consumers for longer than `CLAIM_IDLE`.
    async fn claim_abandoned(&mut self, room: usize) -> Result<Vec<StreamEntry>, TransportError> {
        let claim_idle = self.config.claim_idle;
        let reader = self.reader_mut()?;
        let mut cursor = "0-0".to_owned();
        let mut claimed = Vec::new();
        loop {
            let (next, entries) = reader
                .claim_idle(claim_idle, &cursor, room - claimed.len())
                .await?;
            claimed.extend(entries);
            if next == "0-0" || claimed.len() >= room {
                break;
            }
            cursor = next;
        }
        if claimed.len() < room {
            // The whole pending list was scanned: wait before scanning again.
            self.next_claim =
                Instant::now() + (claim_idle / 2).clamp(MAX_BLOCK, Duration::from_secs(30));
        }
        if !claimed.is_empty() {
            tracing::info!(
                entries = claimed.len(),
                "claimed entries left pending by another consumer"
            );
        }
        Ok(claimed)
    }

    /// Adds entries that decode and keep every rule to the batch; moves anything else to the
    /// dead-letter stream, with the reason.
    async fn accept_all(
        &mut self,
        entries: Vec<StreamEntry>,
        redelivered: bool,
    ) -> Result<(), TransportError> {
        let deliveries = match (redelivered, entries.first(), entries.last()) {
            (true, Some(first), Some(last)) => {
                // Entries already in the batch may lie in the same id range: ask for them too,
                // so that none of these is cut off by the count.
                let count = entries.len() + self.batch.len();
                let (first, last) = (first.id.clone(), last.id.clone());
                self.reader_mut()?
                    .delivery_counts(&first, &last, count)
                    .await?
            }
            _ => Default::default(),
        };
        for entry in entries {
            if self.in_batch.contains(&entry.id) {
                continue;
            }
            let delivered = deliveries.get(&entry.id).copied().unwrap_or(1);
            let decoded = match &entry.payload {
                // Validated again as ingestion does: whoever wrote the entry, the store gets
                // only what ingestion would have accepted.
                Some(json) => Event::from_transport(json, &self.config.rules.rules())
                    .map_err(|error| error.to_string()),
                None => Err("the entry has no `event` field".to_owned()),
            };
            let verdict = match decoded {
                Ok(_) if delivered > self.config.max_deliveries => Err(format!(
                    "delivered {delivered} times without being stored (MAX_DELIVERIES is {})",
                    self.config.max_deliveries
                )),
                other => other,
            };
            match verdict {
                Ok(event) => {
                    self.in_batch.insert(entry.id.clone());
                    let pending = Pending {
                        entry,
                        event,
                        deliveries: delivered,
                    };
                    self.batch.push(pending, Instant::now());
                }
                Err(reason) => self.dead_letter(&entry, &reason, delivered).await?,
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &mut self,
        entry: &StreamEntry,
        reason: &str,
        deliveries: u64,
    ) -> Result<(), TransportError> {
        tracing::warn!(entry_id = %entry.id, %reason, deliveries, "moving entry to the dead-letter stream");
        metrics::counter!("consumer_dead_letters_total").increment(1);
        let stream = self.config.dead_letter_stream.clone();
        self.reader_mut()?
            .dead_letter(&stream, entry, reason, deliveries)
            .await
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

    fn reader_mut(&mut self) -> Result<&mut GroupReader, TransportError> {
        self.reader
            .as_mut()
            .ok_or_else(|| TransportError::Protocol("not connected".into()))
    }

    /// Drops the connection and waits before the next attempt.
    async fn redis_failed(&mut self, error: &TransportError) {
        let delay = self.redis_backoff.next_delay();
        tracing::warn!(%error, retry_in = ?delay, "Redis failed; reconnecting");
        self.status.set_redis_error(Some(error.to_string()));
        self.reader = None;
        self.pause(delay).await;
    }

    /// Writes the batch, then acknowledges it. A failing store (full, locked, read-only) is
    /// retried with backoff, the entries staying pending in Redis meanwhile. A batch the store
    /// refuses for its data is written event by event, and the events it still refuses become
    /// dead letters. During shutdown a failure is returned and the entries stay pending for the
    /// next start.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let mut batch = self.batch.take();
        self.in_batch.clear();
        let started = Instant::now();
        let mut backoff = Backoff::default();
        let mut attempts = 0;
        while !batch.is_empty() {
            let events: Arc<[Event]> = batch.iter().map(|p| p.event.clone()).collect();
            let error = match self.sink.write(events).await {
                Ok(outcome) => {
                    self.status.set_store_error(None);
                    record_flush(batch.len(), outcome.inserted, outcome.duplicates, started);
                    tracing::debug!(
                        batch_len = batch.len(),
                        inserted = outcome.inserted,
                        duplicates = outcome.duplicates,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "batch committed"
                    );
                    let ids: Vec<String> = batch.iter().map(|p| p.entry.id.clone()).collect();
                    return self.acknowledge(&ids).await;
                }
                Err(error) => error,
            };
            attempts += 1;
            metrics::counter!("consumer_store_write_errors_total").increment(1);
            self.status.set_store_error(Some(error.to_string()));
            if self.shutdown.is_cancelled() {
                return Err(anyhow::Error::new(error).context(format!(
                    "could not write the last batch; its {} events stay pending in Redis and \
                     will be read again at the next start",
                    batch.len()
                )));
            }
            if attempts >= BATCH_ATTEMPTS_BEFORE_SPLIT && !error.is_store_failure() {
                batch = self.settle_one_by_one(batch).await?;
                if batch.is_empty() {
                    self.status.set_store_error(None);
                    return Ok(());
                }
            }
            let delay = backoff.next_delay();
            tracing::error!(%error, batch_len = batch.len(), attempts, retry_in = ?delay, "store write failed; retrying");
            self.pause(delay).await;
        }
        Ok(())
    }

    /// Writes events one at a time: stored ones are acknowledged, ones the store refuses for
    /// their data become dead letters, and if the store itself fails on the way, the rest is
    /// returned to be retried as a batch.
    async fn settle_one_by_one(&mut self, batch: Vec<Pending>) -> anyhow::Result<Vec<Pending>> {
        let mut stored = Vec::new();
        let mut refused = Vec::new();
        let mut left = Vec::new();
        let mut events = batch.into_iter();
        while let Some(pending) = events.next() {
            match self.sink.write(Arc::from([pending.event.clone()])).await {
                Ok(outcome) => {
                    record_flush(1, outcome.inserted, outcome.duplicates, Instant::now());
                    stored.push(pending.entry.id);
                }
                Err(error) if error.is_store_failure() => {
                    left.push(pending);
                    left.extend(events);
                    break;
                }
                Err(error) => refused.push((pending, error.to_string())),
            }
        }
        self.acknowledge(&stored).await?;
        for (pending, error) in refused {
            let reason = format!("the store refused it: {error}");
            loop {
                let result = match self.connect_if_needed().await {
                    Ok(()) => {
                        self.dead_letter(&pending.entry, &reason, pending.deliveries)
                            .await
                    }
                    Err(error) => Err(error),
                };
                match result {
                    Ok(()) => break,
                    Err(error) if self.shutdown.is_cancelled() => {
                        return Err(anyhow::Error::new(error)
                            .context(format!("could not dead-letter entry {}", pending.entry.id)));
                    }
                    Err(error) => self.redis_failed(&error).await,
                }
            }
        }
        Ok(left)
    }

    /// Acknowledges committed entries, retrying through Redis outages (until acknowledged they
    /// would be read again, harmlessly, only after a restart).
    async fn acknowledge(&mut self, ids: &[String]) -> anyhow::Result<()> {
        loop {
            let result = match self.connect_if_needed().await {
                Ok(()) => match self.reader_mut() {
                    Ok(reader) => reader.ack(ids).await,
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            match result {
                Ok(()) => break,
                Err(error) if self.shutdown.is_cancelled() => {
                    return Err(anyhow::Error::new(error).context(
                        "the last batch is stored but could not be acknowledged; it will be read \
                         again at the next start and skipped as already stored",
                    ));
                }
                Err(error) => self.redis_failed(&error).await,
            }
        }
        Ok(())
    }

    /// Trims the stream behind the group's acknowledgements, at most once a second.
    async fn trim_now_and_then(&mut self) {
        if Instant::now() < self.next_trim {
            return;
        }
        self.next_trim = Instant::now() + TRIM_INTERVAL;
        if let Ok(reader) = self.reader_mut() {
            match reader.trim_acknowledged().await {
                Ok(removed) => tracing::trace!(removed, "stream trimmed"),
                Err(error) => tracing::warn!(%error, "trimming the stream failed"),
            }
            if let Ok((backlog, pending)) = reader.backlog_and_pending().await {
                metrics::gauge!("consumer_stream_backlog").set(backlog as f64);
                metrics::gauge!("consumer_pending").set(pending as f64);
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

/// The consumer's throughput metrics for one committed write.
pub(crate) fn record_flush(events: usize, inserted: usize, duplicates: usize, started: Instant) {
    metrics::histogram!("consumer_batch_size_events").record(events as f64);
    metrics::histogram!("consumer_flush_duration_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("consumer_events_stored_total").increment(inserted as u64);
    metrics::counter!("consumer_events_duplicate_total").increment(duplicates as u64);
}
