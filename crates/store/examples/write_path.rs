//! What the consumer's write path costs, part by part, without Redis: the same rows as
//! `make bench`'s drain, decoded from their stream JSON, then stored with `insert_batch` in
//! batches as a consumer under a backlog takes them, against the plain insert the bench uses
//! as its ceiling, in one run. For profiling (`perf record -g`) and for comparing changes:
//!
//! ```text
//! cargo run --release -p store --example write_path -- 200000 [BATCH [FOLD_ROWS]]
//! ```

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use domain::event::{Event, EventRules, new_event_id};
use serde_json::json;
use store::Writer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(200_000), |n| n.parse())?;
    let batch: usize = std::env::args().nth(2).map_or(Ok(1_000), |n| n.parse())?;
    let fold_rows: usize = std::env::args()
        .nth(3)
        .map_or(Ok(store::writer::FOLD_ROWS), |n| n.parse())?;
    let now = Utc::now();
    let start: DateTime<Utc> = "2025-10-02T10:30:00Z".parse()?;
    let types = [
        "page_view",
        "page_view",
        "page_view",
        "add_to_cart",
        "purchase",
    ];
    let payloads: Vec<String> = (0..count)
        .map(|n| {
            let mut value = json!({"event_type": types[n % types.len()],
                "timestamp": (start + TimeDelta::milliseconds(18 * n as i64)).to_rfc3339(),
                "product_id": format!("prod-{}", n % 1000), "session_id": format!("s-{}", n % 5000),
                "visitor_id": format!("v-{}", n % 3000)});
            if n % types.len() == 4 {
                value["order_amount"] = json!((n % 20_000) as f64 / 100.0);
            }
            Event::from_json(value, now, new_event_id)
                .map(|event| event.to_json())
                .map_err(|errors| format!("invalid: {errors:?}"))
        })
        .collect::<Result<_, _>>()?;

    let rules = EventRules::default();
    let started = Instant::now();
    let events: Vec<Event> = payloads
        .iter()
        .map(|json| Event::from_transport(json, &rules))
        .collect::<Result<_, _>>()?;
    let decode = started.elapsed();

    let dir = tempfile::tempdir()?;
    let mut writer = Writer::open(&dir.path().join("store.db"))?;
    writer.set_fold_rows(fold_rows);
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        writer.insert_batch(chunk)?;
    }
    let store = started.elapsed();

    let plain = plain_insert(&dir.path().join("plain.db"), &events)?;
    let rate = |seconds: f64| count as f64 / seconds;
    println!("{count} events, batches of {batch}, folded every {fold_rows} rows (or second)");
    println!(
        "decode (stream JSON, validated again): {:>9.0} events/s",
        rate(decode.as_secs_f64())
    );
    println!(
        "insert_batch (store, rollups, spans):  {:>9.0} events/s",
        rate(store.as_secs_f64())
    );
    println!(
        "plain insert (the bench's ceiling):    {:>9.0} events/s",
        rate(plain)
    );
    println!(
        "store / plain: {:.2}; decode + store / plain: {:.2}",
        plain / store.as_secs_f64(),
        plain / (store + decode).as_secs_f64()
    );
    Ok(())
}

/// The bench's ceiling: the same columns, a rowid and one unique index on the ids, 1000 rows
/// per transaction; returns the seconds it took.
fn plain_insert(
    path: &std::path::Path,
    events: &[Event],
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut connection = rusqlite::Connection::open(path)?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL,
            event_type TEXT NOT NULL, timestamp TEXT NOT NULL, ts_micros INTEGER,
            product_id TEXT, order_amount REAL, amount_micros INTEGER,
            shop_id TEXT NOT NULL, session_id TEXT, visitor_id TEXT, received_at TEXT);
         CREATE UNIQUE INDEX events_event_id ON events (event_id);",
    )?;
    let started = Instant::now();
    for chunk in events.chunks(1000) {
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO events (event_id, event_type, timestamp, ts_micros, product_id,
                    order_amount, amount_micros, shop_id, session_id, visitor_id, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for event in chunk {
                insert.execute(rusqlite::params![
                    event.event_id,
                    event.event_type.as_str(),
                    domain::event::format_utc(&event.timestamp),
                    event.timestamp.timestamp_micros(),
                    event.product_id,
                    event.order_amount,
                    event.amount_micros(),
                    event.shop_id,
                    event.session_id,
                    event.visitor_id,
                    domain::event::format_utc(&event.received_at),
                ])?;
            }
        }
        transaction.commit()?;
    }
    Ok(started.elapsed().as_secs_f64())
}
