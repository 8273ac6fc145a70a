//! What `SQLITE_SYNCHRONOUS=full` costs: the consumer's batched insert with `normal` and with
//! `full`, side by side, on this machine.
//!
//! `cargo run --release -p events-core --example durability_cost [EVENTS] [BATCH_SIZE]`

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use events_core::event::{Event, new_event_id};
use events_core::store::{Synchronous, Writer};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let batch_size: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let events: Arc<[Event]> = (0..total)
        .map(|n| {
            let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
                "product_id": format!("prod-{}", n % 1000), "session_id": format!("s-{}", n % 5000)});
            Event::from_json(value, Utc::now(), new_event_id)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("a generated event is invalid: {e:?}"))?;

    println!("{total} events in batches of {batch_size}, one transaction each");
    let mut rates = Vec::new();
    for synchronous in [Synchronous::Normal, Synchronous::Full] {
        let dir = tempfile::tempdir()?;
        let mut writer = Writer::open_with(&dir.path().join("bench.db"), synchronous)?;
        let started = Instant::now();
        for batch in events.chunks(batch_size) {
            writer.insert_batch(batch)?;
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        println!("  synchronous={synchronous:?}: {rate:>10.0} events/s");
        rates.push(rate);
    }
    println!("  full ÷ normal: {:.2}", rates[1] / rates[0]);
    Ok(())
}
