//! The versioned schema. `PRAGMA user_version` records how many migrations a file has; each
//! start-up applies the rest in one `BEGIN IMMEDIATE` transaction, so a consumer and an
//! analytics service starting together cannot apply one twice.
//!
//! The rollups are derived data: a step that changes what they hold (a new measure or
//! dimension) is listed in [`REBUILDS_ROLLUPS`], and after the last pending step the rollups
//! are summed again from the raw events, once, by the code of this build.

use rusqlite::{Connection, TransactionBehavior};

use super::{StoreError, rollups, session_spans};

/// Each step, in order. Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the original project's table, unchanged, so its SQL and its files keep working.
    "CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_type TEXT NOT NULL,
        timestamp DATETIME NOT NULL,
        product_id TEXT,
        order_amount REAL,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP
    );",
    // 2: the fields of the extended event, the exact amount and the sortable time.
    "ALTER TABLE events ADD COLUMN event_id TEXT;
    ALTER TABLE events ADD COLUMN shop_id TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE events ADD COLUMN session_id TEXT;
    ALTER TABLE events ADD COLUMN visitor_id TEXT;
    ALTER TABLE events ADD COLUMN path TEXT;
    ALTER TABLE events ADD COLUMN referrer TEXT;
    ALTER TABLE events ADD COLUMN currency TEXT;
    ALTER TABLE events ADD COLUMN quantity INTEGER;
    ALTER TABLE events ADD COLUMN order_id TEXT;
    ALTER TABLE events ADD COLUMN sent_at TEXT;
    ALTER TABLE events ADD COLUMN received_at TEXT;
    -- Event time in microseconds since 1970 UTC: ranges compare as integers, whatever the
    -- spelling of the text column.
    ALTER TABLE events ADD COLUMN ts_micros INTEGER;
    -- order_amount in integer millionths, so sums are exact.
    ALTER TABLE events ADD COLUMN amount_micros INTEGER;
    -- Rows the original wrote: derive the new columns from theirs.
    UPDATE events SET
        ts_micros = CAST(round((julianday(timestamp) - 2440587.5) * 86400000.0) AS INTEGER) * 1000,
        amount_micros = CAST(round(order_amount * 1000000.0) AS INTEGER)
    WHERE ts_micros IS NULL;
    -- One row per event id, and one purchase per shop order.
    CREATE UNIQUE INDEX events_event_id ON events (event_id);
    CREATE UNIQUE INDEX events_shop_order ON events (shop_id, order_id)
        WHERE event_type = 'purchase' AND order_id IS NOT NULL;
    -- Range queries, with and without a shop.
    CREATE INDEX events_time ON events (ts_micros);
    CREATE INDEX events_shop_time ON events (shop_id, ts_micros);
    -- Counts by type and the top viewed product without reading whole rows.
    CREATE INDEX events_type_product ON events (event_type, product_id);",
    // 3: rollups, 15 minutes of UTC per row, kept by the writer in the transaction of the
    // insert. 15 minutes divides every offset in use (+05:30, +05:45, -03:30), so a local
    // hour, day, week or month is a whole number of rows. Shop '' holds the sum over all shops
    // (real shop ids are never empty), so an all-shops question reads one row per bucket.
    // Undated rows (imported from the original with an unreadable timestamp) sit in bucket
    // -9223372036854775808, which every bounded range leaves out as the raw `ts_micros` test does.
    // Amounts are whole units plus a sum of remainders, as in the raw queries, so that no sum
    // can overflow.
    "CREATE TABLE rollup_events (
        shop_id TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        page_views INTEGER NOT NULL DEFAULT 0,
        add_to_carts INTEGER NOT NULL DEFAULT 0,
        purchases INTEGER NOT NULL DEFAULT 0,
        priced_purchases INTEGER NOT NULL DEFAULT 0,
        revenue_units INTEGER NOT NULL DEFAULT 0,
        revenue_rest INTEGER NOT NULL DEFAULT 0,
        max_amount INTEGER,
        min_amount INTEGER,
        PRIMARY KEY (shop_id, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_products (
        shop_id TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        product_id TEXT NOT NULL,
        page_views INTEGER NOT NULL DEFAULT 0,
        add_to_carts INTEGER NOT NULL DEFAULT 0,
        purchases INTEGER NOT NULL DEFAULT 0,
        priced_purchases INTEGER NOT NULL DEFAULT 0,
        revenue_units INTEGER NOT NULL DEFAULT 0,
        revenue_rest INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (shop_id, bucket, product_id)
    ) WITHOUT ROWID;
    -- All-time sums per product, for the all-time ranking and top product without summing
    -- every bucket.
    CREATE TABLE rollup_product_totals (
        shop_id TEXT NOT NULL,
        product_id TEXT NOT NULL,
        page_views INTEGER NOT NULL DEFAULT 0,
        add_to_carts INTEGER NOT NULL DEFAULT 0,
        purchases INTEGER NOT NULL DEFAULT 0,
        priced_purchases INTEGER NOT NULL DEFAULT 0,
        revenue_units INTEGER NOT NULL DEFAULT 0,
        revenue_rest INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (shop_id, product_id)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_currencies (
        shop_id TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        currency TEXT NOT NULL,
        priced_purchases INTEGER NOT NULL DEFAULT 0,
        revenue_units INTEGER NOT NULL DEFAULT 0,
        revenue_rest INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (shop_id, bucket, currency)
    ) WITHOUT ROWID;
    CREATE TEMP VIEW rollup_source AS
        SELECT shop_id, product_id, COALESCE(currency, 'XXX') AS currency,
            COALESCE(ts_micros - (ts_micros % 900000000)
                - CASE WHEN ts_micros % 900000000 < 0 THEN 900000000 ELSE 0 END,
                -9223372036854775808) AS bucket,
            event_type = 'page_view' AS pv, event_type = 'add_to_cart' AS ac,
            event_type = 'purchase' AS pu,
            event_type = 'purchase' AND amount_micros IS NOT NULL AS priced,
            CASE WHEN event_type = 'purchase' THEN amount_micros END AS amount
        FROM events;
    -- Rows already stored (an upgraded file) are rolled up once here.
    INSERT INTO rollup_events
        SELECT shop_id, bucket, SUM(pv), SUM(ac), SUM(pu), SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0),
            MAX(amount), MIN(amount)
        FROM temp.rollup_source GROUP BY shop_id, bucket;
    INSERT INTO rollup_events
        SELECT '', bucket, SUM(pv), SUM(ac), SUM(pu), SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0),
            MAX(amount), MIN(amount)
        FROM temp.rollup_source GROUP BY bucket;
    INSERT INTO rollup_products
        SELECT shop_id, bucket, product_id, SUM(pv), SUM(ac), SUM(pu), SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0)
        FROM temp.rollup_source WHERE product_id IS NOT NULL GROUP BY shop_id, bucket, product_id;
    INSERT INTO rollup_products
        SELECT '', bucket, product_id, SUM(pv), SUM(ac), SUM(pu), SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0)
        FROM temp.rollup_source WHERE product_id IS NOT NULL GROUP BY bucket, product_id;
    INSERT INTO rollup_product_totals
        SELECT shop_id, product_id, SUM(page_views), SUM(add_to_carts), SUM(purchases),
            SUM(priced_purchases), SUM(revenue_units), SUM(revenue_rest)
        FROM rollup_products GROUP BY shop_id, product_id;
    INSERT INTO rollup_currencies
        SELECT shop_id, bucket, currency, SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0)
        FROM temp.rollup_source WHERE priced GROUP BY shop_id, bucket, currency;
    INSERT INTO rollup_currencies
        SELECT '', bucket, currency, SUM(priced),
            COALESCE(SUM(amount / 1000000), 0), COALESCE(SUM(amount % 1000000), 0)
        FROM temp.rollup_source WHERE priced GROUP BY bucket, currency;
    DROP VIEW temp.rollup_source;
    -- Sessions and visitors are counted from the raw rows; this index holds every column those
    -- passes read, in time order, so they never touch the table itself.
    CREATE INDEX events_time_people ON events (ts_micros, shop_id, event_type, session_id, visitor_id, product_id);
    ",
    // v4: day and week rows (store/days.rs, store/product_days.rs), rolled up in the
    // background once a UTC day or week has ended; an upgraded file gets them that way too.
    "
    CREATE TABLE rollup_days (
        shop_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        products BLOB NOT NULL,
        people BLOB NOT NULL,
        PRIMARY KEY (shop_id, day)
    );
    CREATE TABLE rollup_product_weeks (
        shop_id TEXT NOT NULL,
        week INTEGER NOT NULL,
        products BLOB NOT NULL,
        PRIMARY KEY (shop_id, week)
    );
    ",
    // v5: one rollup table keyed by dimension and grain (store/rollups.rs), holding the raw
    // rows up to a watermark, replaces the four 15-minute tables and the day and week blobs of products; day rows keep only people.
    // Event ids are unique per shop, not across shops (one shop must not be able to squat
    // another's ids). The writer keeps only the indexes a question or a uniqueness rule needs:
    // the people index starts with `ts_micros`, so it serves time ranges too.
    "
    DROP TABLE rollup_events;
    DROP TABLE rollup_products;
    DROP TABLE rollup_product_totals;
    DROP TABLE rollup_currencies;
    DROP TABLE rollup_days;
    DROP TABLE rollup_product_weeks;
    CREATE TABLE rollups (
        shop_id TEXT NOT NULL,
        dimension TEXT NOT NULL,
        grain INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        value TEXT NOT NULL,
        page_views INTEGER NOT NULL DEFAULT 0,
        add_to_carts INTEGER NOT NULL DEFAULT 0,
        purchases INTEGER NOT NULL DEFAULT 0,
        priced_purchases INTEGER NOT NULL DEFAULT 0,
        revenue_units INTEGER NOT NULL DEFAULT 0,
        revenue_rest INTEGER NOT NULL DEFAULT 0,
        max_amount INTEGER,
        min_amount INTEGER,
        PRIMARY KEY (shop_id, dimension, grain, bucket, value)
    ) WITHOUT ROWID;
    -- The highest raw row id the rollups hold (store/rollups.rs).
    CREATE TABLE rollup_progress (
        last_event_id INTEGER NOT NULL
    );
    INSERT INTO rollup_progress VALUES (-9223372036854775808);
    -- Where retention (RETENTION_DAYS) last cut the raw events and day rows of people: the
    -- rollups hold everything, people only what is after it (store/retention.rs).
    CREATE TABLE retention (
        people_since INTEGER
    );
    INSERT INTO retention VALUES (NULL);
    CREATE TABLE people_days (
        shop_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        people BLOB NOT NULL,
        PRIMARY KEY (shop_id, day)
    );
    DROP INDEX events_event_id;
    CREATE UNIQUE INDEX events_shop_event_id ON events (shop_id, event_id);
    DROP INDEX events_time;
    DROP INDEX events_type_product;
    ",
    // v6: where each event came from and what sent it (domain::event::Traffic), derived at
    // ingestion; rows stored before have them all NULL (and are no bots).
    "
    ALTER TABLE events ADD COLUMN referrer_domain TEXT;
    ALTER TABLE events ADD COLUMN source TEXT;
    ALTER TABLE events ADD COLUMN medium TEXT;
    ALTER TABLE events ADD COLUMN campaign TEXT;
    ALTER TABLE events ADD COLUMN channel TEXT;
    ALTER TABLE events ADD COLUMN device TEXT;
    ALTER TABLE events ADD COLUMN browser TEXT;
    ALTER TABLE events ADD COLUMN os TEXT;
    ALTER TABLE events ADD COLUMN country TEXT;
    ALTER TABLE events ADD COLUMN is_bot INTEGER NOT NULL DEFAULT 0;
    ",
    // v7: day rows of people in two parts, the whole day summarised (visitors as a sketch when
    // many, sessions contained in the day as counts) first, the buckets after; and the days
    // each session spans (store/session_spans.rs), which decide what is contained. Day rows
    // are derived: the old ones are dropped and the consumer rolls the days up again.
    "
    DROP TABLE people_days;
    CREATE TABLE people_days (
        shop_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        whole BLOB NOT NULL,
        buckets BLOB NOT NULL,
        PRIMARY KEY (shop_id, day)
    );
    CREATE TABLE session_spans (
        session INTEGER PRIMARY KEY,
        first_day INTEGER NOT NULL,
        last_day INTEGER NOT NULL
    );
    ",
    // v8: each session's attribution, from its first stored event and its first page view,
    // and each visitor's first event and first purchase (store/attribution.rs), kept by the
    // writer in the insert's transaction; filled here from the events already stored. Bots
    // count nowhere. The people index gains `is_bot`, so that leaving bots out of the people
    // passes keeps them on the index alone. Day rows and rollups written before counted bots:
    // the day rows are dropped (the consumer rolls the days up again), the rollups summed again.
    "
    CREATE TABLE sessions (
        shop_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        first_ts INTEGER,
        first_id INTEGER NOT NULL,
        channel TEXT,
        source TEXT,
        medium TEXT,
        campaign TEXT,
        referrer_domain TEXT,
        device TEXT,
        browser TEXT,
        os TEXT,
        country TEXT,
        landing_ts INTEGER,
        landing_id INTEGER,
        landing_page TEXT,
        PRIMARY KEY (shop_id, session_id)
    ) WITHOUT ROWID;
    INSERT INTO sessions (shop_id, session_id, first_ts, first_id, channel, source, medium,
            campaign, referrer_domain, device, browser, os, country)
        SELECT shop_id, session_id, ts_micros, id, channel, source, medium, campaign,
            referrer_domain, device, browser, os, country
        FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY shop_id, session_id
                ORDER BY ts_micros, id) AS n
            FROM events WHERE session_id IS NOT NULL AND is_bot = 0)
        WHERE n = 1;
    UPDATE sessions SET landing_ts = first.ts_micros, landing_id = first.id,
            landing_page = first.path
        FROM (SELECT shop_id, session_id, ts_micros, id, path
            FROM (SELECT shop_id, session_id, ts_micros, id, path,
                    ROW_NUMBER() OVER (PARTITION BY shop_id, session_id
                        ORDER BY ts_micros, id) AS n
                FROM events
                WHERE session_id IS NOT NULL AND is_bot = 0 AND event_type = 'page_view')
            WHERE n = 1) AS first
        WHERE first.shop_id = sessions.shop_id AND first.session_id = sessions.session_id;
    CREATE TABLE visitors (
        shop_id TEXT NOT NULL,
        visitor_id TEXT NOT NULL,
        first_ts INTEGER NOT NULL,
        first_purchase_ts INTEGER,
        PRIMARY KEY (shop_id, visitor_id)
    ) WITHOUT ROWID;
    INSERT INTO visitors
        SELECT shop_id, visitor_id, MIN(ts_micros),
            MIN(CASE WHEN event_type = 'purchase' THEN ts_micros END)
        FROM events
        WHERE visitor_id IS NOT NULL AND is_bot = 0 AND ts_micros IS NOT NULL
        GROUP BY shop_id, visitor_id;
    DROP INDEX events_time_people;
    CREATE INDEX events_time_people ON events
        (ts_micros, shop_id, event_type, session_id, visitor_id, product_id, is_bot);
    DELETE FROM people_days;
    ",
    // v9: the day rows of people also hold what the session metrics and returning customers
    // need (store/people_days.rs: each run's purchase, event count and times; per day and
    // bucket the buyers and page views with a session; the contained sessions' sums). Day rows
    // are derived: the old ones are dropped and the consumer rolls the days up again. The
    // visitors' first times get the indexes that count new visitors and first purchases of a
    // range without reading every visitor (replaced in v12).
    "
    DELETE FROM people_days;
    CREATE INDEX visitors_first ON visitors (first_ts, shop_id, visitor_id);
    CREATE INDEX visitors_first_purchase ON visitors (first_purchase_ts, shop_id, visitor_id)
        WHERE first_purchase_ts IS NOT NULL;
    CREATE INDEX visitors_visitor ON visitors (visitor_id, first_ts, first_purchase_ts, shop_id);
    ",
    // v10: a grain of UTC calendar months (grain 4, store/grain.rs), so that a month is one row
    // per value. Summed here from the day rows (a month is its days; undated rows are in
    // neither), not from the raw events: the rollups keep what retention has cut from them.
    // The day rows hold the events up to the watermark, so the month rows do too. (A file that
    // has month rows already, from a rebuild by a newer build, has them replaced.)
    "
    DELETE FROM rollups WHERE grain = 4;
    INSERT INTO rollups (shop_id, dimension, grain, bucket, value, page_views, add_to_carts,
            purchases, priced_purchases, revenue_units, revenue_rest, max_amount, min_amount)
        SELECT shop_id, dimension, 4, month, value, SUM(page_views), SUM(add_to_carts),
            SUM(purchases), SUM(priced_purchases), SUM(revenue_units), SUM(revenue_rest),
            MAX(max_amount), MIN(min_amount)
        FROM (SELECT *, CAST(strftime('%s', bucket / 1000000, 'unixepoch', 'start of month')
                    AS INTEGER) * 1000000 AS month
            FROM rollups WHERE grain = 1)
        GROUP BY shop_id, dimension, month, value;
    ",
    // v11: the attributed dimensions in the rollups (summed again below); a session's events
    // are found when an earlier event takes it over and they move to its new attribution.
    "CREATE INDEX IF NOT EXISTS events_shop_session ON events (shop_id, session_id)
        WHERE session_id IS NOT NULL;",
    // v12: new visitors and first purchases of a range as index ranges
    // (attribution.rs, FIRSTS_OF_SHOP and FIRSTS_OF_ALL_SHOPS): per shop by shop-led indexes,
    // over all shops from `visitors_all`, each id once with its earliest times over every shop
    // (v9's indexes served a check of each visitor against its other shops' rows, seconds at a
    // few hundred thousand visitors).
    "
    CREATE TABLE visitors_all (
        visitor_id TEXT PRIMARY KEY,
        first_ts INTEGER NOT NULL,
        first_purchase_ts INTEGER
    ) WITHOUT ROWID;
    INSERT INTO visitors_all
        SELECT visitor_id, MIN(first_ts), MIN(first_purchase_ts) FROM visitors
        GROUP BY visitor_id;
    CREATE INDEX visitors_all_first ON visitors_all (first_ts);
    CREATE INDEX visitors_all_first_purchase ON visitors_all (first_purchase_ts)
        WHERE first_purchase_ts IS NOT NULL;
    DROP INDEX visitors_first;
    DROP INDEX visitors_first_purchase;
    DROP INDEX visitors_visitor;
    CREATE INDEX visitors_shop_first ON visitors (shop_id, first_ts);
    CREATE INDEX visitors_shop_first_purchase ON visitors (shop_id, first_purchase_ts)
        WHERE first_purchase_ts IS NOT NULL;
    ",
    // v13: day rows of people per attributed value (store/people_days.rs, days.rs): per day,
    // attributed dimension, shop (and all shops, '') and value, the same two blobs as
    // `people_days`; `people_value_marks` holds the days whose keyed rows are current. Rows
    // are derived: none are written here, and the consumer rolls every day without a mark up
    // again (both kinds, in one transaction).
    "
    CREATE TABLE people_value_days (
        day INTEGER NOT NULL,
        dimension TEXT NOT NULL,
        shop_id TEXT NOT NULL,
        value TEXT NOT NULL,
        whole BLOB NOT NULL,
        buckets BLOB NOT NULL,
        PRIMARY KEY (day, dimension, shop_id, value)
    );
    CREATE TABLE people_value_marks (
        day INTEGER PRIMARY KEY
    );
    ",
    // v14: the bots' events of a shop and range counted on an index of them alone
    // (`/api/v1/shops`' `bot_events`), not by reading every event of the shop; only a bot's
    // event pays for it on insert.
    "
    CREATE INDEX events_bots ON events (shop_id, ts_micros) WHERE is_bot = 1;
    ",
];

/// The steps (1-based versions) after which the rollups are summed again from the raw events.
const REBUILDS_ROLLUPS: &[i64] = &[5, 8];

/// The steps after which the attributed dimensions alone are summed again from the raw events
/// (the others keep what retention deleted from the raw events).
const REBUILDS_ATTRIBUTED_ROLLUPS: &[i64] = &[11];

/// The steps after which the session spans are read again from the raw events.
const REBUILDS_SESSION_SPANS: &[i64] = &[7];

/// The schema version this build writes and reads.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the file does not have yet.
pub fn apply(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&transaction)?;
    if current > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: LATEST_VERSION,
        });
    }
    let mut rebuild = false;
    let mut rebuild_attributed = false;
    let mut rebuild_spans = false;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        transaction.execute_batch(step)?;
        transaction.pragma_update(None, "user_version", version)?;
        tracing::info!(version, "applied store migration");
        rebuild |= REBUILDS_ROLLUPS.contains(&version);
        rebuild_attributed |= REBUILDS_ATTRIBUTED_ROLLUPS.contains(&version);
        rebuild_spans |= REBUILDS_SESSION_SPANS.contains(&version);
    }
    if rebuild_spans {
        session_spans::rebuild(&transaction)?;
    }
    if rebuild {
        rollups::rebuild(&transaction)?;
        tracing::info!("summed the stored events into the rollups again");
    } else if rebuild_attributed {
        rollups::rebuild_attributed(&transaction)?;
        tracing::info!("summed the stored events under the attributed dimensions");
    }
    transaction.commit()?;
    Ok(())
}

/// The schema version of a file.
pub fn version(connection: &Connection) -> Result<i64, StoreError> {
    Ok(connection.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_reaches_the_latest_version_and_a_second_run_changes_nothing() {
        let mut connection = Connection::open_in_memory().expect("opens");
        apply(&mut connection).expect("migrates");
        assert_eq!(version(&connection).expect("version"), LATEST_VERSION);
        apply(&mut connection).expect("migrates again");
        assert_eq!(version(&connection).expect("version"), LATEST_VERSION);
    }

    #[test]
    fn rows_written_by_the_original_are_upgraded() {
        let mut connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(MIGRATIONS[0])
            .expect("original schema");
        connection
            .execute_batch(
                "INSERT INTO events (event_type, timestamp, product_id, order_amount)
                 VALUES ('purchase', '2025-10-02T10:40:00Z', 'prod-1', 99.99),
                        ('purchase', '2025-10-02 10:41:00', 'prod-1', NULL),
                        ('page_view', 'not a time', NULL, NULL);",
            )
            .expect("original rows");
        apply(&mut connection).expect("migrates");
        let rows: Vec<(Option<i64>, Option<i64>, String)> = connection
            .prepare("SELECT ts_micros, amount_micros, shop_id FROM events ORDER BY id")
            .expect("prepares")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("queries")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows[0],
            (
                Some(1_759_401_600_000_000),
                Some(99_990_000),
                "default".into()
            )
        );
        assert_eq!(
            rows[1],
            (Some(1_759_401_660_000_000), None, "default".into())
        );
        assert_eq!(rows[2], (None, None, "default".into()));
    }

    /// A file written before the rollups were keyed by dimension (v4) is upgraded in place:
    /// no raw event is lost and the new rollups answer exactly what the raw rows answer.
    #[test]
    fn a_v4_file_is_upgraded_and_its_rollups_summed_again() {
        use crate::{EventFilter, Plan, read};
        use domain::dimension::Dimension;
        let mut connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(&format!("{};{}", MIGRATIONS[0], MIGRATIONS[1]))
            .expect("v2 schema");
        connection
            .execute_batch(
                "INSERT INTO events (event_id, event_type, timestamp, ts_micros, product_id,
                    amount_micros, shop_id, currency)
                 VALUES ('a', 'page_view', 't', 1759400000000000, 'p1', NULL, 's1', NULL),
                        ('b', 'purchase', 't', 1759400100000000, 'p1', 12500000, 's1', 'EUR'),
                        ('c', 'purchase', 't', 1760000000000000, NULL, 99, 's2', NULL),
                        ('d', 'add_to_cart', 't', NULL, 'p2', NULL, 's2', NULL);
                 PRAGMA user_version = 2;",
            )
            .expect("rows of an old file");
        apply(&mut connection).expect("migrates");
        let stored: i64 = connection
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            .expect("counts");
        assert_eq!(stored, 4);
        for filter in [
            EventFilter::default(),
            EventFilter {
                shop_id: Some("s1".into()),
                from_micros: Some(1_759_300_000_000_000),
                to_micros: Some(1_759_500_000_000_000),
            },
        ] {
            for dimension in Dimension::ALL {
                let ask = |plan| {
                    read::sums_by_value(&connection, &filter, dimension, None, plan).expect("reads")
                };
                let rolled = ask(Plan::Rollup);
                assert!(!rolled.is_empty(), "{dimension:?} {filter:?}");
                assert_eq!(rolled, ask(Plan::Raw), "{dimension:?} {filter:?}");
            }
        }
    }

    /// A v7 file (bots stored and, then, counted) is upgraded to v8: its rollups no longer
    /// count the bots, its day rows of people are gone (the consumer rolls them up again),
    /// and only the people's sessions and visitors are in the new tables.
    #[test]
    fn a_v7_file_stops_counting_its_bots() {
        use crate::{EventFilter, Plan, read};
        let mut connection = Connection::open_in_memory().expect("opens");
        let v7 = MIGRATIONS[..7].join(";");
        connection.execute_batch(&v7).expect("v7 schema");
        connection
            .execute_batch(
                "INSERT INTO events (event_id, event_type, timestamp, ts_micros, shop_id,
                    session_id, visitor_id, is_bot)
                 VALUES ('a', 'page_view', 't', 1759400000000000, 's1', 'human', 'v1', 0),
                        ('b', 'page_view', 't', 1759400100000000, 's1', 'crawler', 'v2', 0);
                 INSERT INTO people_days (shop_id, day, whole, buckets) VALUES ('s1', 20363, x'00', x'00');
                 PRAGMA user_version = 7;",
            )
            .expect("rows of a v7 file");
        // Summed while the crawler still counted, then flagged: what a v7 file holds. This
        // build's fold joins the sessions, which a v7 file has not: an empty stand-in.
        connection
            .execute_batch(
                "CREATE TEMP TABLE sessions (shop_id, session_id, channel, source, medium,
                    campaign, referrer_domain, device, browser, os, country, landing_page)",
            )
            .expect("stand-in");
        rollups::rebuild(&connection).expect("v7 rollups");
        connection
            .execute_batch("DROP TABLE temp.sessions")
            .expect("drops the stand-in");
        connection
            .execute("UPDATE events SET is_bot = 1 WHERE event_id = 'b'", [])
            .expect("flags the bot");
        apply(&mut connection).expect("migrates");
        let totals =
            |plan| read::totals(&connection, &EventFilter::default(), plan).expect("reads");
        assert_eq!(totals(Plan::Rollup).page_views, 1);
        assert_eq!(totals(Plan::Rollup), totals(Plan::Raw));
        let count = |sql: &str| -> i64 {
            connection
                .query_row(sql, [], |row| row.get(0))
                .expect("counts")
        };
        assert_eq!(count("SELECT COUNT(*) FROM people_days"), 0);
        assert_eq!(
            count("SELECT COUNT(*) FROM sessions WHERE session_id = 'human'"),
            1
        );
        assert_eq!(count("SELECT COUNT(*) FROM sessions"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM visitors"), 1);
    }

    /// v11 sums the stored events under the attributed dimensions and leaves every other row
    /// alone: those hold the sums of events retention has deleted since, which summing the raw
    /// events again would lose.
    #[test]
    fn v11_adds_attributed_rows_and_keeps_the_sums_retention_deleted() {
        let mut connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(&MIGRATIONS[..10].join(";"))
            .expect("v10 schema");
        connection
            .execute_batch(
                "INSERT INTO events (event_id, event_type, timestamp, ts_micros, product_id,
                    amount_micros, shop_id, currency, channel)
                 VALUES ('old', 'page_view', 't', 1759276800000000, 'p1', NULL, 's1', NULL,
                            'Direct'),
                        ('new', 'page_view', 't', 1761955200000000, 'p1', NULL, 's1', NULL,
                            'Direct');
                 PRAGMA user_version = 10;",
            )
            .expect("rows of a v10 file");
        let page_views = |connection: &Connection, dimension: &str| -> i64 {
            connection
                .query_row(
                    "SELECT SUM(page_views) FROM rollups
                     WHERE shop_id = 's1' AND dimension = ?1 AND grain = 1",
                    [dimension],
                    |row| row.get(0),
                )
                .expect("sums")
        };
        rollups::fold(&connection).expect("folds");
        // What a v10 file holds: no attributed rows, and retention has deleted the old event
        // after it was folded.
        for dimension in rollups::attributed_dimensions() {
            connection
                .execute(
                    "DELETE FROM rollups WHERE dimension = ?1",
                    [dimension.name()],
                )
                .expect("a v10 file has no attributed rows");
        }
        connection
            .execute("DELETE FROM events WHERE event_id = 'old'", [])
            .expect("retention");
        apply(&mut connection).expect("migrates");
        assert_eq!(
            page_views(&connection, ""),
            2,
            "the totals keep the deleted event"
        );
        assert_eq!(page_views(&connection, "product"), 2);
        assert_eq!(
            page_views(&connection, "channel"),
            1,
            "attributed rows hold the stored events, once"
        );
    }

    /// A v8 file (no month rows) is upgraded (v10 adds them): its month rows are what the writer would
    /// have written, also for days before 1970, and the watermark is unchanged.
    #[test]
    fn a_v8_file_gets_month_rows_summed_from_its_days() {
        let mut connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(&MIGRATIONS[..8].join(";"))
            .expect("v8 schema");
        connection
            .execute_batch(
                "INSERT INTO events (event_id, event_type, timestamp, ts_micros, product_id,
                    amount_micros, shop_id, currency)
                 VALUES ('a', 'page_view', 't', 1759276799000000, 'p1', NULL, 's1', NULL),
                        ('b', 'purchase', 't', 1759276800000000, 'p1', 12500000, 's1', 'EUR'),
                        ('c', 'purchase', 't', 1761955199000000, 'p1', 99, 's1', 'EUR'),
                        ('d', 'purchase', 't', 1761955200000000, NULL, 7, 's2', NULL),
                        ('e', 'add_to_cart', 't', NULL, 'p2', NULL, 's2', NULL),
                        ('f', 'purchase', 't', -86400000001, 'p2', 5, 's2', NULL);
                 PRAGMA user_version = 8;",
            )
            .expect("rows of a v8 file");
        // What this build's writer keeps, month rows included: the expected answer.
        rollups::rebuild(&connection).expect("rollups");
        let rows = |connection: &Connection| -> Vec<Vec<rusqlite::types::Value>> {
            let mut statement = connection
                .prepare("SELECT * FROM rollups WHERE grain = 4 ORDER BY shop_id, dimension, bucket, value")
                .expect("prepares");
            let width = statement.column_count();
            statement
                .query_map([], |row| (0..width).map(|i| row.get(i)).collect())
                .expect("queries")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        let written = rows(&connection);
        assert!(written.len() > 10, "{written:?}");
        let watermark = rollups::watermark(&connection).expect("watermark");
        connection
            .execute("DELETE FROM rollups WHERE grain = 4", [])
            .expect("a v8 file has no month rows");
        apply(&mut connection).expect("migrates");
        assert_eq!(rows(&connection), written);
        assert_eq!(
            rollups::watermark(&connection).expect("watermark"),
            watermark
        );
    }

    #[test]
    fn the_rollups_have_a_column_for_every_measure() {
        let mut connection = Connection::open_in_memory().expect("opens");
        apply(&mut connection).expect("migrates");
        let columns: Vec<String> = connection
            .prepare("SELECT name FROM pragma_table_info('rollups') ORDER BY cid")
            .expect("prepares")
            .query_map([], |row| row.get(0))
            .expect("queries")
            .collect::<Result<_, _>>()
            .expect("columns");
        let measures: Vec<&str> = domain::sums::Sums::MEASURES
            .iter()
            .map(|m| m.column)
            .collect();
        let expected = [&rollups::KEY_COLUMNS[..], &measures[..]].concat();
        assert_eq!(
            columns, expected,
            "a measure needs a migration adding its column"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut connection = Connection::open_in_memory().expect("opens");
        connection
            .pragma_update(None, "user_version", LATEST_VERSION + 1)
            .expect("sets");
        assert!(matches!(
            apply(&mut connection),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }
}
