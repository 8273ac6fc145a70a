//! The writer's background work, beside the workers: rolling up the people of ended days (see
//! `events_core::store::days`: a month's visitors then read a row per day instead of a row per
//! event), and retention (`RETENTION_DAYS`, see `events_core::store::retention`). Each is one
//! short transaction on the writer, between batches.

use std::time::Duration;

use chrono::DateTime;
use tokio_util::sync::CancellationToken;

use crate::sink::Sink;

/// How often ended days are looked for: how soon a day is rolled up after it settled
/// (`days::SETTLE_MICROS`), or again after late events made its rows stale. A check that
/// finds nothing is a few index seeks.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How often retention (`RETENTION_DAYS`) runs: its horizon moves by a day a day, so an hour
/// keeps it within an hour of its setting.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Rolls up every ended day, then checks again every [`CHECK_INTERVAL`] until `shutdown`;
/// with `retention_days`, applies retention at start and every [`RETENTION_INTERVAL`].
pub async fn run(sink: Sink, retention_days: Option<u32>, shutdown: CancellationToken) {
    let mut next_retention = tokio::time::Instant::now();
    loop {
        if let Some(days) = retention_days
            && tokio::time::Instant::now() >= next_retention
        {
            next_retention += RETENTION_INTERVAL;
            match sink.apply_retention(days).await {
                Ok(retained) => {
                    let since = DateTime::from_timestamp_micros(retained.people_since);
                    tracing::info!(
                        deleted_events = retained.deleted_events,
                        people_since = ?since,
                        "applied retention"
                    );
                }
                Err(error) => tracing::warn!(%error, "applying retention failed"),
            }
        }
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match sink.roll_up_next_day().await {
                Ok(Some(day)) => {
                    let day = DateTime::from_timestamp_micros(day).map(|d| d.date_naive());
                    tracing::info!(?day, "rolled up a day");
                }
                Ok(None) => break,
                Err(error) => {
                    // Only the day rows wait; queries read the 15-minute and raw rows meanwhile.
                    tracing::warn!(%error, "rolling up a day failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CHECK_INTERVAL) => {}
        }
    }
}
