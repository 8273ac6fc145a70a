//! PostgreSQL's upkeep: retention (dropping whole month partitions where it can), forgetting a
//! visitor, and backups.

use std::path::{Path, PathBuf};

use postgres::Client;

use super::day_locks::{DAY_LOCKS, day_number};
use super::month_of;
use super::reads::people_since;
use super::rollup_writes::{forget_days, upsert_rollups};
use crate::StoreError;
use crate::grain::{ALL_SHOPS, DAY_MICROS, day_of};
use crate::retention::Retained;
use crate::rollups::Deltas;
use crate::sqlite_segment::attribute_sql;
use domain::attribution::{Attribute, Attributed};
use domain::dimension::{Dimension, Facts};
use domain::event::EventType;

/// Deletes the raw events, their uniqueness claims and the day rows of people before the UTC
/// midnight `days` days before `now_micros`: whole month partitions that end before it are
/// dropped, the rest of the month it falls in is deleted row by row. The rollups hold every
/// committed event already, so sums stay whole.
///
/// Why it cannot deadlock with a batch (docs/OPERATIONS.md, "PostgreSQL"): the horizon of
/// the day rows moves first, so every delete after it may commit on its own; each is then one
/// statement in its own transaction, so retention never holds rows of one table while it
/// waits for another's, and it cannot close a cycle across tables with a batch. Within a
/// table it locks as a batch does: the parent `events` before a partition, `people_days` by
/// `(shop_id, day)` and `session_spans` by `session`, ascending. The claims are locked by no
/// batch (`ON CONFLICT DO NOTHING` only waits). A batch that deletes `people_days` twice
/// (its days, then a stale day of a widened session) could still meet retention on a day row
/// before the horizon; PostgreSQL then aborts one side and both are run again
/// ([`retry`](super::retry)).
pub fn apply_retention(
    client: &mut Client,
    now_micros: i64,
    days: u32,
) -> Result<Retained, StoreError> {
    let horizon = day_of(now_micros).saturating_sub(i64::from(days).saturating_mul(DAY_MICROS));
    // From this commit on no roll-up writes, and no read trusts, a day row before the horizon.
    retried(client, "retention horizon", |client| {
        client.execute(
            "UPDATE retention SET people_since = GREATEST(COALESCE(people_since, $1), $1)",
            &[&horizon],
        )
    })?;
    let mut deleted = drop_months_before(client, horizon)?;
    deleted += retried(client, "retention of events", |client| {
        client.execute("DELETE FROM events WHERE ts_micros < $1", &[&horizon])
    })?;
    for table in ["event_ids", "order_ids"] {
        retried(client, "retention of claims", |client| {
            client.execute(
                &format!("DELETE FROM {table} WHERE ts_micros < $1"),
                &[&horizon],
            )
        })?;
    }
    retried(client, "retention of day rows", |client| {
        client.execute(
            "DELETE FROM people_days WHERE (shop_id, day) IN
                (SELECT shop_id, day FROM people_days WHERE day < $1
                 ORDER BY shop_id, day FOR UPDATE)",
            &[&horizon],
        )
    })?;
    retried(client, "retention of day rows per value", |client| {
        client.execute(
            "DELETE FROM people_value_marks WHERE day IN
                (SELECT day FROM people_value_marks WHERE day < $1 ORDER BY day FOR UPDATE)",
            &[&horizon],
        )?;
        client.execute("DELETE FROM people_value_days WHERE day < $1", &[&horizon])
    })?;
    // The spans of sessions whose events are all gone (as SQLite's retention does). A span a
    // batch widened meanwhile is checked again once its lock is had, and kept.
    retried(client, "retention of session spans", |client| {
        client.execute(
            "DELETE FROM session_spans WHERE session IN
                (SELECT session FROM session_spans WHERE last_day < $1
                 ORDER BY session FOR UPDATE)",
            &[&horizon],
        )
    })?;
    let people_since = people_since(client)?.unwrap_or(horizon);
    Ok(Retained {
        people_since,
        deleted_events: deleted,
    })
}

/// Drops the month partitions that end at or before `horizon`, one transaction each; returns
/// how many events they held.
fn drop_months_before(client: &mut Client, horizon: i64) -> Result<u64, StoreError> {
    let partitions = client.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass AND c.relname <> 'events_undated'",
        &[],
    )?;
    let mut whole: Vec<String> = Vec::new();
    for row in &partitions {
        let name: String = row.get(0);
        if let Some(month) = parse_partition(&name)
            && month_of(month).1 <= horizon
        {
            whole.push(name);
        }
    }
    whole.sort();
    let mut deleted = 0;
    for name in whole {
        let count = super::retry::on_conflict("retention of a month", || {
            let mut transaction = client.transaction()?;
            // The parent first, as a batch's insert locks it before the partition (dropping a
            // partition locks both; the partition first would be the opposite order).
            transaction.batch_execute("LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE")?;
            let count: i64 = transaction
                .query_one(&format!("SELECT COUNT(*) FROM {name}"), &[])?
                .get(0);
            transaction.batch_execute(&format!("DROP TABLE {name}"))?;
            transaction.commit()?;
            Ok(count)
        })?;
        deleted += count as u64;
        tracing::info!(partition = %name, events = count, "retention dropped a month");
    }
    Ok(deleted)
}

/// One statement in its own transaction, run again if PostgreSQL aborts it as a conflict.
fn retried(
    client: &mut Client,
    what: &'static str,
    statement: impl Fn(&mut Client) -> Result<u64, postgres::Error>,
) -> Result<u64, StoreError> {
    super::retry::on_conflict(what, || Ok(statement(client)?))
}

/// The first microsecond of the month of a partition named `events_YYYY_MM`.
fn parse_partition(name: &str) -> Option<i64> {
    use chrono::TimeZone;
    let rest = name.strip_prefix("events_")?;
    let (year, month) = rest.split_once('_')?;
    let start = chrono::Utc
        .with_ymd_and_hms(year.parse().ok()?, month.parse().ok()?, 1, 0, 0, 0)
        .single()?;
    Some(start.timestamp_micros())
}

/// How many raw rows a rebuild of the rollups sums at a time.
const REBUILD_CHUNK: i32 = 100_000;

/// Deletes every event of `visitor_id` in `shop_id` and its claims, forgets the day rows of
/// people of its days and sums the rollups anew from the remaining events, in one
/// transaction that holds the rollups exclusively (inserts wait for it, then add their own
/// sums to the rebuilt rows); returns how many events it deleted.
pub fn forget_visitor(url: &str, shop_id: &str, visitor_id: &str) -> Result<u64, StoreError> {
    let mut client = super::open_and_migrate(url)?;
    let mut transaction = client.transaction()?;
    transaction.batch_execute("LOCK TABLE rollups IN EXCLUSIVE MODE")?;
    let deleted = transaction.query(
        "DELETE FROM events WHERE shop_id = $1 AND visitor_id = $2
         RETURNING event_id, event_type, order_id, ts_micros, session_id",
        &[&shop_id, &visitor_id],
    )?;
    if deleted.is_empty() {
        return Ok(0);
    }
    let mut event_ids: Vec<String> = Vec::new();
    let mut order_ids: Vec<String> = Vec::new();
    let mut days: Vec<i64> = Vec::new();
    let mut sessions: Vec<String> = Vec::new();
    for row in &deleted {
        if let Some(session) = row.get::<_, Option<String>>(4) {
            sessions.push(session);
        }
        if let Some(id) = row.get::<_, Option<String>>(0) {
            event_ids.push(id);
        }
        if row.get::<_, String>(1) == EventType::Purchase.as_str()
            && let Some(order) = row.get::<_, Option<String>>(2)
        {
            order_ids.push(order);
        }
        if let Some(ts) = row.get::<_, Option<i64>>(3) {
            days.push(day_of(ts));
        }
    }
    transaction.execute(
        "DELETE FROM event_ids WHERE shop_id = $1 AND event_id = ANY($2)",
        &[&shop_id, &event_ids],
    )?;
    transaction.execute(
        "DELETE FROM order_ids WHERE shop_id = $1 AND order_id = ANY($2)",
        &[&shop_id, &order_ids],
    )?;
    // The days of the rest of the visitor's sessions: their attribution is built again
    // below, so their rows per attributed value go stale too (under the same locks).
    sessions.sort_unstable();
    sessions.dedup();
    let mut recredited: Vec<i64> = Vec::new();
    for row in transaction.query(
        "SELECT MIN(ts_micros), MAX(ts_micros) FROM events
         WHERE shop_id = $1 AND session_id = ANY($2) GROUP BY session_id",
        &[&shop_id, &sessions],
    )? {
        let (first, last): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        if let (Some(first), Some(last)) = (first, last) {
            recredited.extend((day_of(first)..=day_of(last)).step_by(DAY_MICROS as usize));
        }
    }
    recredited.sort_unstable();
    recredited.dedup();
    days.sort_unstable();
    days.dedup();
    let mut locked: Vec<i64> = days.iter().chain(&recredited).copied().collect();
    locked.sort_unstable();
    locked.dedup();
    for day in &locked {
        transaction.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&DAY_LOCKS, &day_number(*day)],
        )?;
    }
    super::rollup_writes::forget_value_days(&mut transaction, &recredited)?;
    let mut touched: Vec<(&str, i64)> = days
        .iter()
        .flat_map(|day| [(shop_id, *day), (ALL_SHOPS, *day)])
        .collect();
    touched.sort_unstable();
    touched.dedup();
    forget_days(&mut transaction, &touched)?;
    rebuild_attribution(&mut transaction, shop_id, &sessions, visitor_id)?;
    rebuild_rollups(&mut transaction)?;
    transaction.commit()?;
    Ok(deleted.len() as u64)
}

/// Builds the attribution of `sessions` and the first times of `visitor` of one shop again
/// from the stored events, after some of them were deleted (as SQLite's
/// `attribution::rebuild`).
fn rebuild_attribution(
    transaction: &mut postgres::Transaction<'_>,
    shop_id: &str,
    sessions: &[String],
    visitor_id: &str,
) -> Result<(), StoreError> {
    transaction.execute(
        "DELETE FROM sessions WHERE shop_id = $1 AND session_id = ANY($2)",
        &[&shop_id, &sessions],
    )?;
    transaction.execute(
        "INSERT INTO sessions (shop_id, session_id, first_ts, first_id, channel, source,
            medium, campaign, referrer_domain, device, browser, os, country)
         SELECT DISTINCT ON (session_id) shop_id, session_id, ts_micros, id, channel, source,
            medium, campaign, referrer_domain, device, browser, os, country
         FROM events WHERE shop_id = $1 AND session_id = ANY($2) AND NOT is_bot
         ORDER BY session_id, ts_micros NULLS FIRST, id",
        &[&shop_id, &sessions],
    )?;
    transaction.execute(
        "UPDATE sessions SET landing_ts = first.ts_micros, landing_id = first.id,
            landing_page = first.path
         FROM (SELECT DISTINCT ON (session_id) session_id, ts_micros, id, path FROM events
            WHERE shop_id = $1 AND session_id = ANY($2) AND NOT is_bot
                AND event_type = 'page_view'
            ORDER BY session_id, ts_micros NULLS FIRST, id) AS first
         WHERE sessions.shop_id = $1 AND sessions.session_id = first.session_id",
        &[&shop_id, &sessions],
    )?;
    transaction.execute(
        "DELETE FROM visitors WHERE shop_id = $1 AND visitor_id = $2",
        &[&shop_id, &visitor_id],
    )?;
    transaction.execute(
        "INSERT INTO visitors
         SELECT shop_id, visitor_id, MIN(ts_micros),
            MIN(CASE WHEN event_type = 'purchase' THEN ts_micros END)
         FROM events
         WHERE shop_id = $1 AND visitor_id = $2 AND NOT is_bot AND ts_micros IS NOT NULL
         GROUP BY shop_id, visitor_id",
        &[&shop_id, &visitor_id],
    )?;
    for statement in crate::attribution::REBUILD_VISITOR_OF_ALL_SHOPS {
        transaction.execute(&statement.replace('?', "$"), &[&visitor_id])?;
    }
    Ok(())
}

/// Empties the rollups and sums every stored event but the bots' into them again, chunk by
/// chunk from one cursor, inside the caller's transaction.
pub(super) fn rebuild_rollups(
    transaction: &mut postgres::Transaction<'_>,
) -> Result<(), StoreError> {
    transaction.batch_execute("DELETE FROM rollups")?;
    sum_events_under(transaction, &Dimension::ALL)
}

/// Sums every stored event under the attributed dimensions again, leaving the other
/// dimensions' rows as they are (SQLite's `rollups::rebuild_attributed`): they may hold the
/// sums of months that retention has dropped.
pub(super) fn rebuild_attributed_rollups(
    transaction: &mut postgres::Transaction<'_>,
) -> Result<(), StoreError> {
    let attributed = crate::rollups::attributed_dimensions();
    let names: Vec<&str> = attributed.iter().map(|d| d.name()).collect();
    transaction.execute("DELETE FROM rollups WHERE dimension = ANY($1)", &[&names])?;
    sum_events_under(transaction, &attributed)
}

/// Adds every stored event but the bots' to the rollups under `dimensions`.
fn sum_events_under(
    transaction: &mut postgres::Transaction<'_>,
    dimensions: &[Dimension],
) -> Result<(), StoreError> {
    // Each event with what it is credited to (the raw pass's own SQL).
    let attributes: Vec<String> = Attribute::ALL.iter().map(|a| attribute_sql(*a)).collect();
    let portal = transaction.bind(
        &format!(
            "SELECT e.shop_id, e.ts_micros, e.event_type, e.amount_micros, e.product_id,
                e.currency, {}
             FROM events e LEFT JOIN sessions s
                ON s.shop_id = e.shop_id AND s.session_id = e.session_id
             WHERE NOT e.is_bot",
            attributes.join(", ")
        ),
        &[],
    )?;
    loop {
        let rows = transaction.query_portal(&portal, REBUILD_CHUNK)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut deltas = Deltas::default();
        for row in &rows {
            let Some(event_type) = EventType::parse(row.get(2)) else {
                continue;
            };
            let facts = Facts {
                event_type,
                amount_micros: row.get(3),
                product_id: row.get(4),
                currency: row.get(5),
                attributed: Attributed {
                    values: std::array::from_fn(|i| row.get(6 + i)),
                },
            };
            deltas.add_under(dimensions, row.get(0), row.get(1), &facts);
        }
        upsert_rollups(transaction, &deltas)?;
    }
}

/// `analytics backup PATH` on PostgreSQL: `pg_dump --format=custom` of the database (one
/// consistent snapshot, taken while everything runs) into `target`, which must not exist;
/// returns its size. Restore with `pg_restore` (docs/OPERATIONS.md).
pub fn backup(url: &str, target: &Path) -> Result<u64, StoreError> {
    if target.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists already; choose a new file",
            target.display()
        )));
    }
    let output = std::process::Command::new(pg_dump())
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(target)
        .arg(format!("--dbname={url}"))
        .output()
        .map_err(|error| {
            StoreError::Backup(format!(
                "cannot run pg_dump ({error}); install the PostgreSQL client programs"
            ))
        })?;
    if !output.status.success() {
        return Err(StoreError::Backup(format!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(|error| StoreError::Backup(format!("{}: {error}", target.display())))
}

/// `pg_dump` of the newest server version installed (Debian keeps it in
/// `/usr/lib/postgresql/*/bin`; a dump needs a `pg_dump` at least as new as the server), else
/// the one on the PATH.
fn pg_dump() -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let program = entry.path().join("bin/pg_dump");
            program.is_file().then_some((version, program))
        })
        .max()
        .map_or_else(|| PathBuf::from("pg_dump"), |(_, program)| program)
}
