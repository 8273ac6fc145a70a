//! Rolling up ended days in the background, beside the workers (see
//! `events_core::store::days`): a month's product ranking or visitor count then reads a row
//! per day instead of a row per product per 15 minutes or a row per event. Each day is one
//! short transaction on the writer, between batches.

use std::time::Duration;

use chrono::DateTime;
use tokio_util::sync::CancellationToken;

use crate::sink::Sink;

/// How often ended days are looked for: how soon a day is rolled up after it settled
/// (`days::SETTLE_MICROS`), or again after late events made its rows stale. A check that
/// finds nothing is a few index seeks.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Rolls up every ended day, then checks again every [`CHECK_INTERVAL`] until `shutdown`.
pub async fn run(sink: Sink, shutdown: CancellationToken) {
    loop {
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
