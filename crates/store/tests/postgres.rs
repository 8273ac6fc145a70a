//! The PostgreSQL store against a private cluster (initdb + postgres on a free port, never a
//! server the tests did not start): the same answers as SQLite for the same events, the
//! uniqueness rules across month partitions, several writers at once, retention by partition,
//! forgetting a visitor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::dimension::Dimension;
use domain::event::Event;
use serde_json::json;
use store::pg::{PgReadPool, PgReads, PgWriter};
use store::{EventFilter, InsertOutcome, Plan, ReadBackend, WriteBackend, Writer, people, read};
use test_support::PostgresServer;

/// One cluster for this test binary; every test gets a database of its own.
fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(PostgresServer::start)
}

fn event(value: serde_json::Value) -> Event {
    Event::from_json(value, Utc::now(), domain::event::new_event_id).expect("valid event")
}

fn count(url: &str, sql: &str) -> i64 {
    let mut client = store::pg::connect(url).expect("connects");
    client.query_one(sql, &[]).expect("counts").get(0)
}

/// A deterministic mix of events over `months` months of 2025, several shops, products,
/// currencies, visitors and sessions.
fn mixed_events(n: usize, months: u32) -> Vec<Event> {
    let types = ["page_view", "page_view", "add_to_cart", "purchase"];
    (0..n)
        .map(|i| {
            let month = 1 + (i as u32 * 7) % months;
            let day = 1 + (i * 13) % 27;
            let minute = (i * 37) % (24 * 60);
            let shop = ["a", "b", "c"][i % 3];
            let mut value = json!({
                "event_type": types[i % types.len()],
                "timestamp": format!("2025-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
                    minute / 60, minute % 60, i % 60, i % 1000),
                "event_id": format!("e{i}"),
                "shop_id": shop,
                "session_id": format!("s{}", i % 29),
                "visitor_id": format!("v{}", i % 17),
            });
            if i % 5 != 0 {
                value["product_id"] = json!(format!("p{}", i % 6));
            }
            if types[i % types.len()] == "purchase" {
                value["order_amount"] = json!((i % 50) as f64 * 1.25 + 0.99);
                let currency = ["EUR", "USD"][i % 2];
                value["currency"] = json!(currency);
                value["order_id"] = json!(format!("o{}", i % 40));
            }
            event(value)
        })
        .collect()
}

/// Everything a question can ask of a store, as text: totals, every dimension, slots, shops,
/// people, the time span, over several ranges, from the rollups and from raw rows.
fn answers(store: &dyn ReadBackend) -> String {
    let mut out = String::new();
    let at = |text: &str| {
        text.parse::<DateTime<Utc>>()
            .expect("time")
            .timestamp_micros()
    };
    let ranges = [
        (None, None),
        (
            Some(at("2025-02-03T10:07:00Z")),
            Some(at("2025-03-17T23:59:59Z")),
        ),
        (
            Some(at("2025-01-01T00:00:00Z")),
            Some(at("2025-02-01T00:00:00Z")),
        ),
    ];
    for shop in [None, Some("a".to_owned()), Some("nobody".to_owned())] {
        for (from, to) in ranges {
            let filter = EventFilter {
                shop_id: shop.clone(),
                from_micros: from,
                to_micros: to,
            };
            for plan in [Plan::Rollup, Plan::Raw] {
                out.push_str(&format!("{shop:?} {from:?} {to:?} {plan:?}\n"));
                out.push_str(&format!("{:?}\n", read::totals(store, &filter, plan)));
                for dimension in Dimension::ALL {
                    let by_value = read::sums_by_value(store, &filter, dimension, None, plan)
                        .map(|sums| sums.into_iter().collect::<BTreeMap<_, _>>());
                    out.push_str(&format!("{by_value:?}\n"));
                }
                out.push_str(&format!(
                    "{:?}\n",
                    read::sums_by_slot(store, &filter, 86_400_000_000, plan)
                ));
                out.push_str(&format!("{:?}\n", read::shops(store, &filter, plan)));
                out.push_str(&format!(
                    "{:?}\n",
                    people::people(store, &filter, None, plan)
                ));
                out.push_str(&format!(
                    "{:?}\n",
                    people::people(store, &filter, Some("p1"), plan)
                ));
            }
            out.push_str(&format!("{:?}\n", store.time_span(&filter)));
        }
    }
    out
}

/// Equal answers, or the first line that differs.
#[track_caller]
fn assert_same(left: &str, right: &str) {
    if let Some((i, (l, r))) = left
        .lines()
        .zip(right.lines())
        .enumerate()
        .find(|(_, (l, r))| l != r)
    {
        panic!("answers differ at line {i}:\n{l}\n{r}");
    }
    assert_eq!(left.lines().count(), right.lines().count());
}

fn pg_answers(url: &str) -> String {
    let pool = PgReadPool::open(url, url).expect("opens");
    pool.run_blocking(|reads| Ok(answers(reads)))
        .expect("reads")
}

fn sqlite_answers(path: &std::path::Path) -> String {
    answers(&rusqlite::Connection::open(path).expect("opens"))
}

#[test]
fn the_same_events_give_the_same_answers_from_both_stores() {
    let url = server().database();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.db");
    let mut sqlite = Writer::open(&path).expect("opens");
    // Fold with every batch, so SQLite answers from its rollups as PostgreSQL does.
    sqlite.set_fold_rows(0);
    let mut pg = PgWriter::open(&url).expect("opens");
    let events = mixed_events(1200, 4);
    for batch in events.chunks(97) {
        let a = WriteBackend::insert_batch(&mut sqlite, batch).expect("stores");
        let b = pg.insert_batch(batch).expect("stores");
        assert_eq!(a, b, "the same outcome");
    }
    // A replay changes nothing in either.
    for batch in events.chunks(300) {
        let b = pg.insert_batch(batch).expect("stores");
        assert_eq!(b.inserted, 0);
    }
    let before = sqlite_answers(&path);
    assert_same(&pg_answers(&url), &before);
    // Roll every day up in both: the answers stay, now from day rows of people.
    let now = Utc::now().timestamp_micros();
    let mut rolled = (0, 0);
    while WriteBackend::roll_up_next_day(&mut sqlite, now, Duration::ZERO)
        .expect("rolls up")
        .is_some()
    {
        rolled.0 += 1;
    }
    while pg
        .roll_up_next_day(now, Duration::ZERO)
        .expect("rolls up")
        .is_some()
    {
        rolled.1 += 1;
    }
    assert_eq!(rolled.0, rolled.1);
    assert!(rolled.0 > 50, "{rolled:?}");
    assert_eq!(count(&url, "SELECT COUNT(*) FROM people_days"), {
        let c = rusqlite::Connection::open(&path).expect("opens");
        c.query_row("SELECT COUNT(*) FROM people_days", [], |r| {
            r.get::<_, i64>(0)
        })
        .expect("counts")
    });
    assert_same(&sqlite_answers(&path), &before);
    assert_same(&pg_answers(&url), &before);
    // The events sit in one partition per month.
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        ),
        4 + 1
    );
}

/// a retry whose skew correction moved it into another month is still stored once,
/// and so is a purchase of an order already counted in another month.
#[test]
fn a_retry_moved_into_another_month_is_stored_once() {
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let first = event(json!({"event_type": "page_view", "event_id": "retry-1",
        "timestamp": "2025-10-31T23:59:59Z", "shop_id": "s"}));
    // The same event sent again with another `sent_at`: its corrected time is in November.
    let moved = event(json!({"event_type": "page_view", "event_id": "retry-1",
        "timestamp": "2025-11-01T00:00:02Z", "shop_id": "s"}));
    let order = event(
        json!({"event_type": "purchase", "order_id": "o-9", "order_amount": 10,
        "timestamp": "2025-10-15T12:00:00Z", "shop_id": "s"}),
    );
    let same_order_later = event(json!({"event_type": "purchase", "order_id": "o-9",
        "order_amount": 10, "timestamp": "2025-12-02T12:00:00Z", "shop_id": "s"}));
    assert_eq!(
        writer.insert_batch(&[first, order]).expect("stores"),
        InsertOutcome {
            inserted: 2,
            duplicates: 0
        }
    );
    assert_eq!(
        writer
            .insert_batch(&[moved, same_order_later])
            .expect("stores"),
        InsertOutcome {
            inserted: 0,
            duplicates: 2
        }
    );
    assert_eq!(count(&url, "SELECT COUNT(*) FROM events"), 2);
    let pool = PgReadPool::open(&url, &url).expect("opens");
    let totals = pool
        .run_blocking(|reads| read::totals(reads, &EventFilter::default(), Plan::Rollup))
        .expect("reads");
    assert_eq!((totals.page_views, totals.purchases), (1, 1));
}

/// Instances starting together apply each migration once.
#[test]
fn writers_starting_together_migrate_once() {
    let url = server().database();
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                PgWriter::open(&url).map(drop)
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("joins").expect("opens");
    }
    assert_eq!(
        count(&url, "SELECT version FROM schema_version"),
        store::pg::schema::LATEST_VERSION
    );
    assert_eq!(count(&url, "SELECT COUNT(*) FROM schema_version"), 1);
}

/// Three consumers writing overlapping batches (redeliveries of one another's entries) at
/// once: no deadlock, every event stored once, the rollups equal to a raw scan.
#[test]
fn concurrent_writers_store_every_event_once_without_deadlock() {
    let url = server().database();
    drop(PgWriter::open(&url).expect("migrates"));
    let events = Arc::new(mixed_events(3000, 3));
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|writer_index| {
            let (url, events, start) = (url.clone(), Arc::clone(&events), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut writer = PgWriter::open(&url).expect("opens");
                start.wait();
                let mut inserted = 0;
                // Each writes everything, in its own order and batch size.
                let size = [50, 77, 128][writer_index];
                let mut batches: Vec<&[Event]> = events.chunks(size).collect();
                if writer_index == 1 {
                    batches.reverse();
                }
                for batch in batches {
                    inserted += writer.insert_batch(batch).expect("stores").inserted;
                }
                inserted
            })
        })
        .collect();
    let inserted: usize = threads.into_iter().map(|t| t.join().expect("joins")).sum();
    let distinct = {
        let mut ids = BTreeSet::new();
        let mut orders = BTreeSet::new();
        events
            .iter()
            .filter(|e| {
                let new_order = match (&e.order_id, e.event_type.as_str()) {
                    (Some(order), "purchase") => orders.insert((e.shop_id.clone(), order.clone())),
                    _ => true,
                };
                new_order && ids.insert((e.shop_id.clone(), e.event_id.clone()))
            })
            .count()
    };
    assert_eq!(inserted, distinct);
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM events") as usize,
        distinct
    );
    // Every session's span is that of its stored events, whichever writer stored them.
    let mut client = store::pg::connect(&url).expect("connects");
    let mut expected: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let day = |micros: i64| micros.div_euclid(86_400_000_000) * 86_400_000_000;
    for row in client
        .query(
            "SELECT session_id, MIN(ts_micros), MAX(ts_micros) FROM events GROUP BY session_id",
            &[],
        )
        .expect("reads")
    {
        let session = domain::people::fingerprint(row.get::<_, &str>(0)) as i64;
        let span = expected.entry(session).or_insert((i64::MAX, i64::MIN));
        *span = (span.0.min(day(row.get(1))), span.1.max(day(row.get(2))));
    }
    let expected: Vec<(i64, i64, i64)> =
        expected.into_iter().map(|(s, (f, l))| (s, f, l)).collect();
    assert_eq!(pg_spans(&url), expected);
    let pool = PgReadPool::open(&url, &url).expect("opens");
    pool.run_blocking(|reads| {
        for dimension in Dimension::ALL {
            let all = EventFilter::default();
            assert_eq!(
                read::sums_by_value(reads, &all, dimension, None, Plan::Rollup)?,
                read::sums_by_value(reads, &all, dimension, None, Plan::Raw)?
            );
        }
        Ok(())
    })
    .expect("reads");
}

/// A batch PostgreSQL aborts as a deadlock victim (SQLSTATE 40P01) is run again, not failed.
/// A second connection makes a real deadlock with the writer through the advisory locks on
/// days that every batch takes shared, in day order: it holds day 2 exclusively, the writer
/// holds day 1 and waits for day 2, then it asks for day 1. The writer waited first, so its
/// deadlock check fires first and aborts its own transaction; the second connection gets day
/// 1, lets both go, and the writer's second attempt stores the batch.
#[test]
fn a_batch_aborted_as_a_deadlock_is_run_again() {
    // The key of the advisory locks on days (crates/store/src/pg/day_locks.rs).
    const DAY_LOCKS: i32 = 0x0da7_0001;
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let batch = [
        event(
            json!({"event_type": "page_view", "timestamp": "2025-06-01T10:00:00Z",
            "event_id": "d1", "session_id": "s"}),
        ),
        event(
            json!({"event_type": "page_view", "timestamp": "2025-06-02T10:00:00Z",
            "event_id": "d2", "session_id": "s"}),
        ),
    ];
    let day_number =
        |text: &str| (text.parse::<DateTime<Utc>>().expect("time").timestamp() / 86_400) as i32;
    let (day1, day2) = (
        day_number("2025-06-01T00:00:00Z"),
        day_number("2025-06-02T00:00:00Z"),
    );
    let mut other = store::pg::connect(&url).expect("connects");
    let mut holding = other.transaction().expect("begins");
    holding
        .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&DAY_LOCKS, &day2])
        .expect("locks day 2");
    let mut watcher = store::pg::connect(&url).expect("connects");
    std::thread::scope(|scope| {
        let writing = scope.spawn(|| writer.insert_batch(&batch));
        // Until the writer waits for day 2 (holding day 1).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while watcher
            .query_one(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                &[],
            )
            .expect("reads pg_locks")
            .get::<_, i64>(0)
            == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never waited"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Closes the cycle; returns once PostgreSQL aborted the writer's transaction.
        holding
            .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&DAY_LOCKS, &day1])
            .expect("the writer was the victim, not this connection");
        holding.commit().expect("lets both days go");
        let outcome = writing
            .join()
            .expect("joins")
            .expect("the aborted batch was run again");
        assert_eq!(outcome.inserted, 2);
    });
    assert_eq!(count(&url, "SELECT COUNT(*) FROM events"), 2);
    assert!(
        count(
            &url,
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ) <= 1,
        "one deadlock at most"
    );
}

#[test]
fn retention_drops_whole_months_and_keeps_the_sums() {
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let now = Utc::now();
    let at = |days_ago: i64, visitor: &str| {
        event(
            json!({"event_type": "purchase", "order_amount": 5, "product_id": "p",
            "timestamp": (now - TimeDelta::days(days_ago)).to_rfc3339(),
            "visitor_id": visitor, "session_id": visitor}),
        )
    };
    writer
        .insert_batch(&[at(100, "old"), at(70, "old"), at(40, "old"), at(3, "new")])
        .expect("stores");
    let partitions = |url: &str| {
        count(
            url,
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'events'::regclass",
        )
    };
    let before_partitions = partitions(&url);
    let pool = PgReadPool::open(&url, &url).expect("opens");
    let all = EventFilter::default();
    let before = pool
        .run_blocking(|r| read::totals(r, &all, Plan::Rollup))
        .expect("reads");
    let retained = writer
        .apply_retention(now.timestamp_micros(), 30)
        .expect("retains");
    assert_eq!(retained.deleted_events, 3);
    assert!(partitions(&url) < before_partitions, "whole months dropped");
    assert_eq!(count(&url, "SELECT COUNT(*) FROM events"), 1);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM event_ids"), 1);
    let (after, people, since) = pool
        .run_blocking(|r| {
            Ok((
                read::totals(r, &all, Plan::Rollup)?,
                people::people(r, &all, None, Plan::Rollup)?,
                r.people_since()?,
            ))
        })
        .expect("reads");
    assert_eq!(after, before, "sums stay whole");
    assert_eq!((people.visitors, people.sessions), (1, 1));
    assert_eq!(since, Some(retained.people_since));
    // An old event arriving late gets its month again, and a second pass deletes it.
    writer.insert_batch(&[at(100, "late")]).expect("stores");
    let again = writer
        .apply_retention(now.timestamp_micros(), 30)
        .expect("retains");
    assert_eq!(again.deleted_events, 1);
}

#[test]
fn forgetting_a_visitor_changes_only_their_part() {
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    // Orders unique, so the rest stored anew is exactly what remains.
    let mut events = mixed_events(600, 2);
    for event in &mut events {
        event.order_id = Some(event.event_id.clone());
    }
    writer.insert_batch(&events).expect("stores");
    let rest: Vec<Event> = events
        .iter()
        .filter(|e| !(e.shop_id == "a" && e.visitor_id.as_deref() == Some("v3")))
        .cloned()
        .collect();
    let deleted = store::StoreUrl::Postgres(url.clone())
        .forget_visitor("a", "v3")
        .expect("forgets");
    assert_eq!(deleted as usize, events.len() - rest.len());
    assert!(deleted > 0);
    let expected = server().database();
    PgWriter::open(&expected)
        .expect("opens")
        .insert_batch(&rest)
        .expect("stores");
    assert_same(&pg_answers(&url), &pg_answers(&expected));
    // Its ids are free again: the visitor's event sent anew is stored.
    let again = events
        .iter()
        .find(|e| e.shop_id == "a" && e.visitor_id.as_deref() == Some("v3"))
        .expect("one of theirs");
    assert_eq!(
        writer
            .insert_batch(std::slice::from_ref(again))
            .expect("stores")
            .inserted,
        1
    );
}

#[test]
fn a_backup_restores_into_the_same_answers() {
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    writer.insert_batch(&mixed_events(300, 2)).expect("stores");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("store.dump");
    let bytes = store::StoreUrl::Postgres(url.clone())
        .backup(&file)
        .expect("backs up");
    assert!(bytes > 0);
    let restored = server().database();
    let status = std::process::Command::new(pg_program("pg_restore"))
        .args(["--no-owner", "--dbname", &restored])
        .arg(&file)
        .status()
        .expect("pg_restore runs");
    assert!(status.success());
    assert_same(&pg_answers(&restored), &pg_answers(&url));
    // The restored store takes writes, and its claims still refuse a replay.
    let mut restored_writer = PgWriter::open(&restored).expect("opens");
    assert_eq!(
        restored_writer
            .insert_batch(&mixed_events(300, 2))
            .expect("stores")
            .inserted,
        0
    );
}

fn pg_program(name: &str) -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .max()
        .unwrap_or_else(|| name.into())
}

/// Reads over a transaction see one snapshot: the reads type is usable over any client.
#[test]
fn reads_work_over_a_plain_client() {
    let url = server().database();
    PgWriter::open(&url)
        .expect("opens")
        .insert_batch(&mixed_events(50, 1))
        .expect("stores");
    let mut client = store::pg::connect(&url).expect("connects");
    let reads = PgReads::new(&mut client);
    assert_eq!(
        read::totals(&reads, &EventFilter::default(), Plan::Rollup).expect("reads"),
        read::totals(&reads, &EventFilter::default(), Plan::Raw).expect("reads")
    );
}

/// A consumer that still believes in a month partition another consumer's retention dropped
/// stores an old event there anyway (the month is created again), rather than refusing it.
#[test]
fn a_writer_survives_retention_dropping_a_month_it_knew() {
    let url = server().database();
    let mut a = PgWriter::open(&url).expect("opens");
    let mut b = PgWriter::open(&url).expect("opens");
    let now = Utc::now();
    let old = |id: &str| {
        event(json!({"event_type": "page_view", "event_id": id,
            "timestamp": (now - TimeDelta::days(200)).to_rfc3339()}))
    };
    a.insert_batch(&[old("a")]).expect("stores");
    b.insert_batch(&[old("b")]).expect("stores");
    let retained = a
        .apply_retention(now.timestamp_micros(), 30)
        .expect("retains");
    assert_eq!(retained.deleted_events, 2);
    assert_eq!(
        b.insert_batch(&[old("c")])
            .expect("stored, not refused")
            .inserted,
        1
    );
}

/// A server restart (or a failover) under a writer: the batch in flight fails as a store
/// failure (so the consumer retries it and acknowledges nothing), and the next attempt
/// connects again and stores it once.
#[test]
fn a_writer_reconnects_after_the_server_restarts() {
    let mut own = PostgresServer::start();
    let url = own.database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let batch = mixed_events(20, 1);
    writer.insert_batch(&batch[..10]).expect("stores");
    own.restart();
    let mut failures = 0;
    let outcome = loop {
        match writer.insert_batch(&batch) {
            Ok(outcome) => break outcome,
            Err(error) => {
                assert!(error.is_store_failure(), "{error}");
                failures += 1;
                assert!(failures < 5, "{error}");
            }
        }
    };
    assert_eq!(outcome.inserted + outcome.duplicates, 20);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM events") as usize, {
        // The mix repeats orders: what is stored is what one writer stores of it at once.
        let fresh = server().database();
        PgWriter::open(&fresh)
            .expect("opens")
            .insert_batch(&batch)
            .expect("stores");
        count(&fresh, "SELECT COUNT(*) FROM events") as usize
    });
}

/// Every session's span of days, as each store recorded it.
fn pg_spans(url: &str) -> Vec<(i64, i64, i64)> {
    let mut client = store::pg::connect(url).expect("connects");
    client
        .query(
            "SELECT session, first_day, last_day FROM session_spans ORDER BY session",
            &[],
        )
        .expect("reads")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

fn sqlite_spans(path: &std::path::Path) -> Vec<(i64, i64, i64)> {
    rusqlite::Connection::open(path)
        .expect("opens")
        .prepare("SELECT session, first_day, last_day FROM session_spans ORDER BY session")
        .expect("prepares")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("reads")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn roll_up_all(store: &mut dyn WriteBackend) -> usize {
    let now = Utc::now().timestamp_micros();
    let mut days = 0;
    while store
        .roll_up_next_day(now, Duration::ZERO)
        .expect("rolls up")
        .is_some()
    {
        days += 1;
    }
    days
}

/// A session contained in a rolled-up day is folded into that day's counts; when it gains an
/// event on another day, PostgreSQL deletes the day's rows as SQLite does, and both answer as
/// a store that never rolled anything up.
#[test]
fn a_contained_session_gaining_another_day_makes_the_day_rows_stale_in_both_stores() {
    let url = server().database();
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, raw_path) = (dir.path().join("a.db"), dir.path().join("raw.db"));
    let mut sqlite = Writer::open(&path).expect("opens");
    sqlite.set_fold_rows(0);
    let mut raw = Writer::open(&raw_path).expect("opens");
    raw.set_fold_rows(0);
    let mut pg = PgWriter::open(&url).expect("opens");
    let at = |session: &str, time: &str, kind: &str| {
        let mut value = json!({"event_type": kind, "timestamp": time, "shop_id": "a",
            "session_id": session, "visitor_id": format!("v-{session}")});
        if kind == "purchase" {
            value["order_amount"] = json!(10.5);
            value["order_id"] = json!(format!("o-{session}"));
        }
        event(value)
    };
    let mut first = Vec::new();
    for session in ["c1", "c2", "c3", "c4"] {
        first.push(at(session, "2025-02-03T10:00:00Z", "page_view"));
        first.push(at(session, "2025-02-03T10:05:00Z", "add_to_cart"));
    }
    first.push(at("x", "2025-02-03T23:50:00Z", "page_view"));
    first.push(at("x", "2025-02-04T00:10:00Z", "add_to_cart"));
    first.push(at("c5", "2025-02-05T12:00:00Z", "page_view"));
    for store in [&mut sqlite as &mut dyn WriteBackend, &mut raw, &mut pg] {
        store.insert_batch(&first).expect("stores");
    }
    assert_eq!(roll_up_all(&mut sqlite), roll_up_all(&mut pg));
    assert_same(&pg_answers(&url), &sqlite_answers(&raw_path));
    let feb_3 = "SELECT COUNT(*) FROM people_days WHERE day = 1738540800000000";
    assert!(count(&url, feb_3) > 0);
    // c1 gains a later day, c2 an earlier one, c3 the same day again; c5 (alone on 5 Feb)
    // gains 3 Feb.
    let late = vec![
        at("c1", "2025-02-05T09:00:00Z", "purchase"),
        at("c2", "2025-02-01T09:00:00Z", "page_view"),
        at("c3", "2025-02-03T11:00:00Z", "purchase"),
        at("c5", "2025-02-03T08:00:00Z", "page_view"),
    ];
    // One at a time, so the day rows of 3 Feb are rolled up again between them.
    for event in &late {
        for store in [&mut sqlite as &mut dyn WriteBackend, &mut raw, &mut pg] {
            store
                .insert_batch(std::slice::from_ref(event))
                .expect("stores");
        }
        assert_eq!(pg_spans(&url), sqlite_spans(&path));
        assert_same(&pg_answers(&url), &sqlite_answers(&raw_path));
        assert_same(&sqlite_answers(&path), &sqlite_answers(&raw_path));
        assert_eq!(roll_up_all(&mut sqlite), roll_up_all(&mut pg));
        assert_same(&pg_answers(&url), &sqlite_answers(&raw_path));
    }
    assert_eq!(pg_spans(&url), sqlite_spans(&raw_path));
}

/// A database from before session spans (PostgreSQL schema version 1) reads them again from
/// its events when it is upgraded, as the writer recorded them.
#[test]
fn an_upgrade_reads_the_session_spans_again_from_the_events() {
    let url = server().database();
    let mut pg = PgWriter::open(&url).expect("opens");
    for batch in mixed_events(900, 3).chunks(100) {
        pg.insert_batch(batch).expect("stores");
    }
    let recorded = pg_spans(&url);
    assert!(recorded.len() > 20, "{}", recorded.len());
    drop(pg);
    let mut client = store::pg::connect(&url).expect("connects");
    client
        .batch_execute(
            "DROP TABLE session_spans;
             DROP TABLE sessions;
             DROP TABLE visitors;
             DROP TABLE people_days;
             CREATE TABLE people_days (shop_id TEXT NOT NULL, day BIGINT NOT NULL,
                 people BYTEA NOT NULL, PRIMARY KEY (shop_id, day));
             UPDATE schema_version SET version = 1;",
        )
        .expect("downgrades");
    drop(PgWriter::open(&url).expect("upgrades"));
    assert_eq!(pg_spans(&url), recorded);
}

/// A database from before month rows (schema version 5) gets them summed from its day rows
/// when it is upgraded: the rows the writer keeps, also for months whose events retention
/// has dropped.
#[test]
fn an_upgrade_sums_the_month_rows_from_the_day_rows() {
    let url = server().database();
    let mut pg = PgWriter::open(&url).expect("opens");
    for batch in mixed_events(900, 4).chunks(100) {
        pg.insert_batch(batch).expect("stores");
    }
    drop(pg);
    let months = |url: &str| -> Vec<String> {
        let mut client = store::pg::connect(url).expect("connects");
        client
            .query(
                "SELECT rollups::text FROM rollups WHERE grain = 4
                 ORDER BY shop_id, dimension, bucket, value",
                &[],
            )
            .expect("reads")
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let written = months(&url);
    assert!(written.len() > 40, "{}", written.len());
    let mut client = store::pg::connect(&url).expect("connects");
    client
        .batch_execute(
            "DELETE FROM rollups WHERE grain = 4;
             UPDATE schema_version SET version = 5;",
        )
        .expect("downgrades");
    drop(PgWriter::open(&url).expect("upgrades"));
    assert_eq!(months(&url), written);
}

/// Every row of a table, as text, in key order.
fn table_rows(url: &str, table: &str, key: &str) -> Vec<String> {
    let mut client = store::pg::connect(url).expect("connects");
    client
        .query(
            &format!("SELECT {table}::text FROM {table} ORDER BY {key}"),
            &[],
        )
        .expect("reads")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A database from before attribution (schema version 2, whose rollups counted bots) gets
/// the sessions' attribution and the visitors' first times from its events when it is
/// upgraded, as the writer keeps them, and its rollups summed again without the bots.
#[test]
fn an_upgrade_fills_the_attribution_and_leaves_bots_out_of_the_rollups() {
    let url = server().database();
    let mut pg = PgWriter::open(&url).expect("opens");
    let mut events = mixed_events(600, 2);
    for (i, event) in events.iter_mut().enumerate() {
        event.traffic.channel = Some(["Direct", "Email", "Referral"][(i / 7) % 3].to_owned());
        event.traffic.country = (i % 4 != 0).then(|| "DE".to_owned());
        event.traffic.is_bot = i % 11 == 0;
        if event.event_type == domain::event::EventType::PageView {
            event.path = Some(format!("/p/{}", i % 5));
        }
    }
    // Later batches first, so sessions are taken over by earlier events arriving late.
    for batch in events.chunks(100).rev() {
        pg.insert_batch(batch).expect("stores");
    }
    drop(pg);
    let sessions = table_rows(&url, "sessions", "shop_id, session_id");
    let visitors = table_rows(&url, "visitors", "shop_id, visitor_id");
    let rollups = table_rows(&url, "rollups", "shop_id, dimension, grain, bucket, value");
    assert!(sessions.len() > 20 && visitors.len() > 20);
    let mut client = store::pg::connect(&url).expect("connects");
    client
        .batch_execute(
            "DROP TABLE sessions;
             DROP TABLE visitors;
             UPDATE rollups SET page_views = page_views + 1;
             UPDATE schema_version SET version = 2;",
        )
        .expect("downgrades");
    drop(PgWriter::open(&url).expect("upgrades"));
    assert_eq!(
        table_rows(&url, "sessions", "shop_id, session_id"),
        sessions
    );
    assert_eq!(
        table_rows(&url, "visitors", "shop_id, visitor_id"),
        visitors
    );
    assert_eq!(
        table_rows(&url, "rollups", "shop_id, dimension, grain, bucket, value"),
        rollups
    );
}

/// Retention running again and again while a writer stores late events of old sessions that
/// also gain new days (the batch widens spans retention is deleting, and deletes day rows
/// retention is deleting): neither fails, and what is left is exact: no event before the
/// horizon, every later one stored once, and no span narrower than its session's events.
#[test]
fn retention_and_a_writer_on_the_same_old_rows_both_finish() {
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let mut retention = PgWriter::open(&url).expect("opens");
    let now = Utc::now();
    let batches: Vec<Vec<Event>> = (0..40)
        .map(|b| {
            (0..30)
                .map(|i| {
                    let session = (b * 7 + i) % 60;
                    let days_ago = [45, 31, 30, 29, 2][i % 5];
                    let shop = ["a", "b"][i % 2];
                    event(json!({"event_type": "page_view",
                        "timestamp": (now - TimeDelta::days(days_ago)
                            - TimeDelta::minutes((b * 30 + i) as i64)).to_rfc3339(),
                        "event_id": format!("e{b}-{i}"), "shop_id": shop,
                        "session_id": format!("s{session}"), "visitor_id": format!("v{session}")}))
                })
                .collect()
        })
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                retention
                    .apply_retention(now.timestamp_micros(), 30)
                    .expect("retention never fails");
                roll_up_all(&mut retention);
            }
        });
        for batch in &batches {
            writer.insert_batch(batch).expect("a batch never fails");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let retained = writer
        .apply_retention(now.timestamp_micros(), 30)
        .expect("retains");
    let horizon = retained.people_since;
    let kept = batches
        .iter()
        .flatten()
        .filter(|e| e.timestamp.timestamp_micros() >= horizon)
        .count();
    assert_eq!(count(&url, "SELECT COUNT(*) FROM events") as usize, kept);
    let mut client = store::pg::connect(&url).expect("connects");
    let day = |micros: i64| micros.div_euclid(86_400_000_000) * 86_400_000_000;
    let spans: BTreeMap<i64, (i64, i64)> = pg_spans(&url)
        .into_iter()
        .map(|(s, f, l)| (s, (f, l)))
        .collect();
    for row in client
        .query(
            "SELECT session_id, MIN(ts_micros), MAX(ts_micros) FROM events GROUP BY session_id",
            &[],
        )
        .expect("reads")
    {
        let session = domain::people::fingerprint(row.get::<_, &str>(0)) as i64;
        let (first, last) = spans.get(&session).copied().expect("a span");
        assert!(first <= day(row.get(1)) && last >= day(row.get(2)));
    }
}

/// How long PostgreSQL takes to roll up one day of many sessions, half of them spanning two
/// days (docs/PERFORMANCE.md, "PostgreSQL roll-ups"):
/// `PG_ROLL_UP_SESSIONS=20000 cargo test -p store --test postgres -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_a_day_roll_up() {
    let sessions: usize = std::env::var("PG_ROLL_UP_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let url = server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let events: Vec<Event> = (0..sessions)
        .flat_map(|i| {
            let second_day = if i % 2 == 0 { "01" } else { "02" };
            [
                format!("2025-06-01T{:02}:{:02}:00Z", i % 24, i % 60),
                format!("2025-06-{second_day}T23:{:02}:30Z", i % 60),
            ]
            .into_iter()
            .enumerate()
            .map(move |(n, time)| {
                let shop = ["a", "b"][i % 2];
                event(json!({"event_type": "page_view", "timestamp": time,
                    "event_id": format!("e{i}-{n}"), "shop_id": shop,
                    "session_id": format!("s{i}"), "visitor_id": format!("v{i}")}))
            })
        })
        .collect();
    for batch in events.chunks(1000) {
        writer.insert_batch(batch).expect("stores");
    }
    let now = "2025-06-10T00:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time")
        .timestamp_micros();
    let started = std::time::Instant::now();
    let day = writer
        .roll_up_next_day(now, Duration::ZERO)
        .expect("rolls up");
    let elapsed = started.elapsed();
    assert!(day.is_some());
    eprintln!(
        "rolled up 2025-06-01 ({sessions} sessions, {} events that day) in {:.1} ms",
        sessions + sessions / 2,
        elapsed.as_secs_f64() * 1000.0
    );
}

/// A service's shutdown drops its store on a thread that drives asynchronous tasks, where
/// `postgres::Client`'s own drop (it blocks on a runtime of its own) used to panic: the
/// consumer's writer, the analytics pool and the live stream's watcher all close there now.
#[test]
fn the_stores_close_on_a_runtime_thread_without_panicking() {
    let url = server().database();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let stores = tokio::task::spawn_blocking(move || {
            let writer = PgWriter::open(&url).expect("opens");
            let pool = PgReadPool::open(&url, &url).expect("opens");
            pool.version().expect("reads");
            let watcher = store::pg::live::PgCommitWatcher::open(&url).expect("watches");
            (writer, pool, watcher)
        })
        .await
        .expect("opened");
        let closed = tokio::spawn(async move { drop(stores) }).await;
        assert!(closed.is_ok(), "dropping the stores panicked: {closed:?}");
    });
}
