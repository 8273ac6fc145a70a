//! PostgreSQL's versioned schema: the same tables as SQLite's ([`migrations`](crate::migrations))
//! where the concept is the same, and what a server database with several writers needs:
//!
//! - `events` is partitioned by month of `ts_micros` (one partition per UTC month, created by
//!   the writer before it inserts into that month; undated rows imported from the original
//!   sit in `events_undated`), so retention drops whole months.
//! - PostgreSQL enforces a unique index on a partitioned table only together with the
//!   partition key, so the uniqueness of `(shop_id, event_id)` and of purchases'
//!   `(shop_id, order_id)` is kept in tables of their own (`event_ids`, `order_ids`), which
//!   the writer claims before it inserts: a retry whose skew correction moved it into another
//!   month still finds its claim.
//! - There is no watermark: each batch upserts its own rollup rows in its transaction (rows in
//!   key order, so concurrent consumers cannot deadlock), because the ids of concurrent
//!   writers do not commit in id order and a watermark would skip rows.
//!
//! Text that is compared or ordered is `COLLATE "C"`: byte order, as SQLite compares, whatever
//! the database's locale.
//!
//! Each step is applied once, in its own transaction, while the session holds an advisory lock
//! ([`MIGRATION_LOCK`]), so instances starting together apply it once.

use postgres::{Client, Transaction};

use crate::grain::day_of;
use crate::{StoreError, session_spans};
use domain::people::fingerprint;

/// The advisory lock key held while migrating (any constant that no other code uses).
pub const MIGRATION_LOCK: i64 = 0x616e_616c_7974_6963;

/// Each step, in order. Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the whole schema of SQLite's version 6, partitioned.
    r#"
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY,
        event_type TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        product_id TEXT COLLATE "C",
        order_amount DOUBLE PRECISION,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        event_id TEXT COLLATE "C",
        shop_id TEXT COLLATE "C" NOT NULL DEFAULT 'default',
        session_id TEXT COLLATE "C",
        visitor_id TEXT COLLATE "C",
        path TEXT,
        referrer TEXT,
        currency TEXT COLLATE "C",
        quantity BIGINT,
        order_id TEXT COLLATE "C",
        sent_at TEXT,
        received_at TEXT,
        ts_micros BIGINT,
        amount_micros BIGINT,
        referrer_domain TEXT,
        source TEXT,
        medium TEXT,
        campaign TEXT,
        channel TEXT,
        device TEXT,
        browser TEXT,
        os TEXT,
        country TEXT,
        is_bot BOOLEAN NOT NULL DEFAULT false
    ) PARTITION BY RANGE (ts_micros);
    -- Only undated rows: a dated row without its month's partition is refused, never hidden
    -- here (and attaching a month never has to scan this partition).
    CREATE TABLE events_undated PARTITION OF events DEFAULT;
    ALTER TABLE events_undated ADD CONSTRAINT events_undated_only CHECK (ts_micros IS NULL);
    -- Sessions and visitors are counted from these columns in time order; ranges use it too.
    CREATE INDEX events_time_people
        ON events (ts_micros, shop_id, event_type, session_id, visitor_id, product_id);
    CREATE INDEX events_shop_time ON events (shop_id, ts_micros);
    -- `analytics forget` finds a visitor's events without a scan.
    CREATE INDEX events_shop_visitor ON events (shop_id, visitor_id);
    -- The uniqueness rules, kept outside the partitions; ts_micros lets retention delete the
    -- claims of the events it deletes.
    CREATE TABLE event_ids (
        shop_id TEXT COLLATE "C" NOT NULL,
        event_id TEXT COLLATE "C" NOT NULL,
        ts_micros BIGINT,
        PRIMARY KEY (shop_id, event_id)
    );
    CREATE INDEX event_ids_time ON event_ids (ts_micros);
    CREATE TABLE order_ids (
        shop_id TEXT COLLATE "C" NOT NULL,
        order_id TEXT COLLATE "C" NOT NULL,
        ts_micros BIGINT,
        PRIMARY KEY (shop_id, order_id)
    );
    CREATE INDEX order_ids_time ON order_ids (ts_micros);
    CREATE TABLE rollups (
        shop_id TEXT COLLATE "C" NOT NULL,
        dimension TEXT COLLATE "C" NOT NULL,
        grain BIGINT NOT NULL,
        bucket BIGINT NOT NULL,
        value TEXT COLLATE "C" NOT NULL,
        page_views BIGINT NOT NULL DEFAULT 0,
        add_to_carts BIGINT NOT NULL DEFAULT 0,
        purchases BIGINT NOT NULL DEFAULT 0,
        priced_purchases BIGINT NOT NULL DEFAULT 0,
        revenue_units BIGINT NOT NULL DEFAULT 0,
        revenue_rest BIGINT NOT NULL DEFAULT 0,
        max_amount BIGINT,
        min_amount BIGINT,
        PRIMARY KEY (shop_id, dimension, grain, bucket, value)
    );
    CREATE TABLE retention (people_since BIGINT);
    INSERT INTO retention VALUES (NULL);
    CREATE TABLE people_days (
        shop_id TEXT COLLATE "C" NOT NULL,
        day BIGINT NOT NULL,
        people BYTEA NOT NULL,
        PRIMARY KEY (shop_id, day)
    );
    "#,
    // 2: as SQLite's version 7, day rows of people in two parts (the whole day summarised
    // first, the buckets after) and the days each session spans (store/session_spans.rs).
    // Day rows are derived: the old ones are dropped and the consumer rolls the days up again;
    // the spans are read again from the events after this step ([`REBUILDS_SESSION_SPANS`]).
    r#"
    DROP TABLE people_days;
    CREATE TABLE people_days (
        shop_id TEXT COLLATE "C" NOT NULL,
        day BIGINT NOT NULL,
        whole BYTEA NOT NULL,
        buckets BYTEA NOT NULL,
        PRIMARY KEY (shop_id, day)
    );
    -- session: the session id's XXH3 fingerprint as a signed 64-bit integer.
    CREATE TABLE session_spans (
        session BIGINT PRIMARY KEY,
        first_day BIGINT NOT NULL,
        last_day BIGINT NOT NULL
    );
    CREATE INDEX session_spans_last_day ON session_spans (last_day);
    "#,
    // 3: as SQLite's version 8 (docs/API.md, "Where buyers come from"): each session's attribution, from its first stored
    // event and its first page view, and each visitor's first event and first purchase
    // (store/attribution.rs), kept by the writer in the batch's transaction; filled here from
    // the events already stored. Bots count nowhere: the day rows written before are dropped
    // (the consumer rolls the days up again) and the rollups summed again
    // ([`REBUILDS_ROLLUPS`]). The Traffic columns and `is_bot` are in `events` since step 1.
    r#"
    CREATE TABLE sessions (
        shop_id TEXT COLLATE "C" NOT NULL,
        session_id TEXT COLLATE "C" NOT NULL,
        first_ts BIGINT,
        first_id BIGINT NOT NULL,
        channel TEXT,
        source TEXT,
        medium TEXT,
        campaign TEXT,
        referrer_domain TEXT,
        device TEXT,
        browser TEXT,
        os TEXT,
        country TEXT,
        landing_ts BIGINT,
        landing_id BIGINT,
        landing_page TEXT,
        PRIMARY KEY (shop_id, session_id)
    );
    INSERT INTO sessions (shop_id, session_id, first_ts, first_id, channel, source, medium,
            campaign, referrer_domain, device, browser, os, country)
        SELECT DISTINCT ON (shop_id, session_id) shop_id, session_id, ts_micros, id, channel,
            source, medium, campaign, referrer_domain, device, browser, os, country
        FROM events WHERE session_id IS NOT NULL AND NOT is_bot
        ORDER BY shop_id, session_id, ts_micros NULLS FIRST, id;
    UPDATE sessions SET landing_ts = first.ts_micros, landing_id = first.id,
            landing_page = first.path
        FROM (SELECT DISTINCT ON (shop_id, session_id) shop_id, session_id, ts_micros, id, path
            FROM events
            WHERE session_id IS NOT NULL AND NOT is_bot AND event_type = 'page_view'
            ORDER BY shop_id, session_id, ts_micros NULLS FIRST, id) AS first
        WHERE first.shop_id = sessions.shop_id AND first.session_id = sessions.session_id;
    CREATE TABLE visitors (
        shop_id TEXT COLLATE "C" NOT NULL,
        visitor_id TEXT COLLATE "C" NOT NULL,
        first_ts BIGINT NOT NULL,
        first_purchase_ts BIGINT,
        PRIMARY KEY (shop_id, visitor_id)
    );
    INSERT INTO visitors
        SELECT shop_id, visitor_id, MIN(ts_micros),
            MIN(CASE WHEN event_type = 'purchase' THEN ts_micros END)
        FROM events
        WHERE visitor_id IS NOT NULL AND NOT is_bot AND ts_micros IS NOT NULL
        GROUP BY shop_id, visitor_id;
    DELETE FROM people_days;
    "#,
    // 4: filtered reads (pg/reads.rs, `selection`): a page filter finds the sessions that
    // viewed the page in the page views' own small index (index-only) instead of reading every
    // event of every month. The join of events to `sessions` for the attribute filters is on
    // the sessions' primary key already. Built on each month partition. `IF NOT EXISTS`: a
    // test's downgrade to an older version leaves it in place.
    r#"
    CREATE INDEX IF NOT EXISTS events_page_sessions ON events (path, shop_id, session_id)
        WHERE event_type = 'page_view' AND session_id IS NOT NULL AND NOT is_bot;
    "#,
    // 5: as SQLite's version 9: day rows hold the session metrics and buyers (dropped, to be
    // rolled up again), and the visitors' first times are indexed for ranges.
    r#"
    DELETE FROM people_days;
    CREATE INDEX IF NOT EXISTS visitors_first ON visitors (first_ts, shop_id, visitor_id);
    CREATE INDEX IF NOT EXISTS visitors_first_purchase ON visitors (first_purchase_ts, shop_id, visitor_id)
        WHERE first_purchase_ts IS NOT NULL;
    CREATE INDEX IF NOT EXISTS visitors_visitor ON visitors (visitor_id, first_ts, first_purchase_ts, shop_id);
    "#,
    // 6: as SQLite's version 10, a grain of UTC calendar months (grain 4, store/grain.rs),
    // summed from the day rows: retention drops whole months of events, but the rollups keep
    // them, so the raw events no longer hold everything the month rows must.
    r#"
    DELETE FROM rollups WHERE grain = 4;
    INSERT INTO rollups (shop_id, dimension, grain, bucket, value, page_views, add_to_carts,
            purchases, priced_purchases, revenue_units, revenue_rest, max_amount, min_amount)
        SELECT shop_id, dimension, 4, month, value, SUM(page_views)::bigint,
            SUM(add_to_carts)::bigint, SUM(purchases)::bigint, SUM(priced_purchases)::bigint,
            SUM(revenue_units)::bigint, SUM(revenue_rest)::bigint, MAX(max_amount),
            MIN(min_amount)
        FROM (SELECT *, EXTRACT(EPOCH FROM date_trunc('month',
                    to_timestamp(bucket / 1000000) AT TIME ZONE 'UTC'))::bigint * 1000000
                    AS month
            FROM rollups WHERE grain = 1) AS days
        GROUP BY shop_id, dimension, month, value;
    "#,
    // 7: the attributed dimensions in the rollups (summed again), and the index that finds a
    // session's events when an earlier event takes it over (SQLite's version 11).
    r#"
    CREATE INDEX IF NOT EXISTS events_shop_session ON events (shop_id, session_id)
        WHERE session_id IS NOT NULL;
    "#,
    // 8: as SQLite's version 12, `visitors_all` and shop-led indexes for the visitors' first
    // times of a range.
    r#"
    CREATE TABLE IF NOT EXISTS visitors_all (
        visitor_id TEXT PRIMARY KEY,
        first_ts BIGINT NOT NULL,
        first_purchase_ts BIGINT
    );
    DELETE FROM visitors_all;
    INSERT INTO visitors_all
        SELECT visitor_id, MIN(first_ts), MIN(first_purchase_ts) FROM visitors
        GROUP BY visitor_id;
    CREATE INDEX IF NOT EXISTS visitors_all_first ON visitors_all (first_ts);
    CREATE INDEX IF NOT EXISTS visitors_all_first_purchase ON visitors_all (first_purchase_ts)
        WHERE first_purchase_ts IS NOT NULL;
    DROP INDEX IF EXISTS visitors_first;
    DROP INDEX IF EXISTS visitors_first_purchase;
    DROP INDEX IF EXISTS visitors_visitor;
    CREATE INDEX IF NOT EXISTS visitors_shop_first ON visitors (shop_id, first_ts);
    CREATE INDEX IF NOT EXISTS visitors_shop_first_purchase ON visitors (shop_id, first_purchase_ts)
        WHERE first_purchase_ts IS NOT NULL;
    "#,
    // 9: as SQLite's version 13, day rows of people per attributed value and the marks of the
    // days whose rows are current; derived: the consumer rolls every unmarked day up again.
    r#"
    CREATE TABLE IF NOT EXISTS people_value_days (
        day BIGINT NOT NULL,
        dimension TEXT NOT NULL,
        shop_id TEXT NOT NULL,
        value TEXT NOT NULL,
        whole BYTEA NOT NULL,
        buckets BYTEA NOT NULL,
        PRIMARY KEY (day, dimension, shop_id, value)
    );
    CREATE TABLE IF NOT EXISTS people_value_marks (
        day BIGINT PRIMARY KEY
    );
    "#,
    // 10: as SQLite's version 14, the bots' events counted on an index of them alone (built
    // on each month partition).
    r#"
    CREATE INDEX IF NOT EXISTS events_bots ON events (shop_id, ts_micros) WHERE is_bot;
    "#,
    // 11: room on each rollup page for the new versions of its rows. Every batch updates the
    // rows it adds to; on a full page each update is a new tuple elsewhere and a new index
    // entry ("non-HOT"), which the drain's profile showed. Applies to pages written from now on.
    r#"
    ALTER TABLE rollups SET (fillfactor = 70);
    "#,
];

/// The steps (1-based versions) after which the session spans are read again from the events.
const REBUILDS_SESSION_SPANS: &[i64] = &[2];

/// The steps after which the rollups are summed again from the events.
const REBUILDS_ROLLUPS: &[i64] = &[3];

/// The steps after which the attributed dimensions alone are summed again from the events
/// (the others keep the sums of months retention has dropped).
const REBUILDS_ATTRIBUTED_ROLLUPS: &[i64] = &[7];

/// The schema version this build writes and reads.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database does not have yet, under the advisory lock.
pub fn apply(client: &mut Client) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let applied = apply_locked(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    applied?;
    unlocked?;
    Ok(())
}

fn apply_locked(client: &mut Client) -> Result<(), StoreError> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);
         INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
    )?;
    let current = version(client)?;
    if current > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: LATEST_VERSION,
        });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let mut transaction = client.transaction()?;
        transaction.batch_execute(step)?;
        if REBUILDS_SESSION_SPANS.contains(&version) {
            rebuild_session_spans(&mut transaction)?;
        }
        if REBUILDS_ROLLUPS.contains(&version) {
            super::upkeep::rebuild_rollups(&mut transaction)?;
        }
        if REBUILDS_ATTRIBUTED_ROLLUPS.contains(&version) {
            super::upkeep::rebuild_attributed_rollups(&mut transaction)?;
        }
        transaction.execute("UPDATE schema_version SET version = $1", &[&version])?;
        transaction.commit()?;
        tracing::info!(version, "applied PostgreSQL store migration");
    }
    Ok(())
}

/// Reads the session spans again from every stored event with a session, for a database
/// upgraded from a version without them. PostgreSQL groups by the session id and streams the
/// groups; the fingerprints (this crate's own function) are computed here and written in
/// chunks, so memory stays bounded at any size. Distinct ids sharing a fingerprint are merged
/// as the writer would.
fn rebuild_session_spans(transaction: &mut Transaction<'_>) -> Result<(), StoreError> {
    const CHUNK: usize = 10_000;
    let mut groups = transaction.transaction()?;
    groups.batch_execute(
        "DECLARE session_groups NO SCROLL CURSOR FOR
            SELECT session_id, MIN(ts_micros), MAX(ts_micros) FROM events
            WHERE session_id IS NOT NULL AND ts_micros IS NOT NULL GROUP BY session_id",
    )?;
    loop {
        let rows = groups.query(&format!("FETCH {CHUNK} FROM session_groups"), &[])?;
        let mut spans: Vec<(u64, i64)> = Vec::with_capacity(rows.len() * 2);
        for row in &rows {
            let session = fingerprint(row.try_get::<_, &str>(0)?);
            spans.push((session, day_of(row.try_get(1)?)));
            spans.push((session, day_of(row.try_get(2)?)));
        }
        let spans = session_spans::batch_spans(&spans);
        let sessions: Vec<i64> = spans.iter().map(|(s, _)| *s as i64).collect();
        let firsts: Vec<i64> = spans.iter().map(|(_, (f, _))| *f).collect();
        let lasts: Vec<i64> = spans.iter().map(|(_, (_, l))| *l).collect();
        groups.execute(
            "INSERT INTO session_spans (session, first_day, last_day)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[])
             ON CONFLICT (session) DO UPDATE SET
                first_day = LEAST(session_spans.first_day, excluded.first_day),
                last_day = GREATEST(session_spans.last_day, excluded.last_day)",
            &[&sessions, &firsts, &lasts],
        )?;
        if rows.len() < CHUNK {
            break;
        }
    }
    groups.batch_execute("CLOSE session_groups")?;
    groups.commit()?;
    Ok(())
}

/// The schema version of a database (`0` before the first start).
pub fn version(client: &mut Client) -> Result<i64, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_opt("SELECT version FROM schema_version", &[])?
        .map_or(0, |row| row.get(0)))
}
