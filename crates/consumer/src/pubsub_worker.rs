//! `--source pubsub`: subscribes to the channel as the original design did. At-most-once:
//! events published while no consumer listens are gone. Kept for compatibility and for
//! setups that accept that; the stream source is the default.

use std::sync::Arc;
use std::time::Duration;

use events_core::event::Event;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::sink::Sink;
use crate::status::Status;

/// Runs until `shutdown`, then writes what it holds and returns.
pub async fn run(
    config: &Config,
    sink: Sink,
    status: Arc<Status>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::warn!(
        channel = %config.events_channel,
        "consumer subscribing to the pub/sub channel: at-most-once, events sent while it is down are lost"
    );
    let mut batch: Batch<Event> = Batch::new(config.batch_size as usize, config.batch_timeout);
    let mut backoff = Backoff::default();
    let rules = config.rules.rules();
    while !shutdown.is_cancelled() {
        let mut pubsub = match events_core::transport::subscribe(
            &config.redis.redis_url,
            &config.events_channel,
        )
        .await
        {
            Ok(pubsub) => {
                tracing::info!("subscribed");
                status.set_redis_error(None);
                backoff.reset();
                pubsub
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in = ?delay, "cannot subscribe; retrying");
                status.set_redis_error(Some(error.to_string()));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
        };
        let mut messages = pubsub.on_message();
        loop {
            let wake = batch
                .deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => match message.get_payload::<String>().map_err(anyhow::Error::from).and_then(|json| Ok(Event::from_transport(&json, &rules)?)) {
                        Ok(event) => batch.push(event, Instant::now()),
                        Err(reason) => tracing::warn!(reason = %format!("{reason:#}"), "dropping an undecodable message"),
                    },
                    None => {
                        tracing::warn!("subscription lost; resubscribing");
                        break;
                    }
                },
                () = tokio::time::sleep_until(wake) => {}
                () = shutdown.cancelled() => break,
            }
            if batch.is_due(Instant::now()) {
                flush(&sink, &status, &mut batch, &shutdown).await?;
            }
        }
    }
    flush(&sink, &status, &mut batch, &shutdown).await?;
    tracing::info!("consumer stopped");
    Ok(())
}

async fn flush(
    sink: &Sink,
    status: &Status,
    batch: &mut Batch<Event>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let events: Arc<[Event]> = batch.take().into();
    let started = Instant::now();
    let mut backoff = Backoff::default();
    loop {
        match sink.write(Arc::clone(&events)).await {
            Ok(outcome) => {
                status.set_store_error(None);
                crate::stream_worker::record_flush(
                    events.len(),
                    outcome.inserted,
                    outcome.duplicates,
                    started,
                );
                tracing::debug!(
                    batch_len = events.len(),
                    inserted = outcome.inserted,
                    "batch committed"
                );
                return Ok(());
            }
            Err(error) if shutdown.is_cancelled() => {
                return Err(anyhow::Error::new(error)
                    .context(format!("could not write the last {} events", events.len())));
            }
            Err(error) => {
                let delay = backoff.next_delay();
                metrics::counter!("consumer_store_write_errors_total").increment(1);
                tracing::error!(%error, retry_in = ?delay, "store write failed; retrying");
                status.set_store_error(Some(error.to_string()));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }
}
