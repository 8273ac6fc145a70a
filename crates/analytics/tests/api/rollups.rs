//! The rollups and day rows answer exactly what a raw scan of the same events answers: random
//! events over seventeen days around the October DST changes (so that ranges hold whole UTC
//! weeks, days and 15-minute buckets, and ragged edges), and some over the three months around
//! them (so that ranges hold whole UTC months, or a local month: a UTC month with buckets added
//! and taken off), random shops, products, sessions and amounts, some days rolled up and some
//! not, asked in random zones (DST, +05:30, +05:45, -02:30) with random date and instant
//! ranges. The summary compared holds the session metrics and new and returning visitors,
//! which the rollup plan reads from the day rows and the visitors' indexes and the raw plan
//! from every event.

use analytics::routes::{breakdown, funnel, original, products, shops, summary, timeseries};
use chrono::{DateTime, TimeDelta, Utc};
use events_core::dimension::Dimension;
use events_core::event::{Event, Traffic, new_event_id};
use events_core::store::pg::{PgReads, PgWriter};
use events_core::store::{Plan, read};
use events_core::store::{ReadBackend, WriteBackend, Writer};
use proptest::prelude::*;
use rusqlite::Connection;
use serde_json::{Value, json};

const ZONES: [&str; 7] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
];
const DAYS: i64 = 17;
/// Days from September 1st to `start()`, and from the end of the seventeen days to December 1st.
const MONTHS_BEFORE: i64 = 51;
const MONTHS_AFTER: i64 = 23;

fn start() -> DateTime<Utc> {
    "2025-10-22T00:00:00Z".parse().unwrap_or_default()
}

#[derive(Debug, Clone)]
struct RandomEvent {
    kind: usize,
    second: i64,
    shop: usize,
    product: Option<usize>,
    session: Option<usize>,
    visitor: Option<usize>,
    cents: u32,
    currency: Option<usize>,
    /// Where it came from: its session's first event credits the session's events to it.
    channel: Option<usize>,
    path: Option<usize>,
}

fn random_event() -> impl Strategy<Value = RandomEvent> {
    (
        0..3usize,
        // A third of the events crowd into one hour, so that sessions do several things within
        // one 15-minute bucket, in an order the day rows must keep.
        // and some over September to November, for the month rows.
        prop_oneof![
            0..DAYS * 86_400,
            259_200..262_800i64,
            -MONTHS_BEFORE * 86_400..(DAYS + MONTHS_AFTER) * 86_400,
        ],
        0..3usize,
        proptest::option::of(0..5usize),
        // Sessions 6–11 live within one UTC day (see `to_json`), so that day rows fold them as
        // contained; sessions 0–5 span days.
        proptest::option::of(0..12usize),
        proptest::option::of(0..6usize),
        0..100_000u32,
        proptest::option::of(0..2usize),
        proptest::option::of(0..CHANNELS.len()),
        proptest::option::of(0..3usize),
    )
        .prop_map(
            |(kind, second, shop, product, session, visitor, cents, currency, channel, path)| {
                RandomEvent {
                    kind,
                    second,
                    shop,
                    product,
                    session,
                    visitor,
                    cents,
                    currency,
                    channel,
                    path,
                }
            },
        )
}

fn to_json(event: &RandomEvent) -> Value {
    let kind = ["page_view", "add_to_cart", "purchase"][event.kind];
    let time = start() + TimeDelta::seconds(event.second);
    let mut value = json!({"event_type": kind, "timestamp": time.to_rfc3339(), "shop_id": format!("shop-{}", event.shop)});
    if let Some(product) = event.product {
        value["product_id"] = json!(format!("p{product}"));
    }
    if let Some(session) = event.session {
        value["session_id"] = match session {
            0..6 => json!(format!("s{session}")),
            _ => json!(format!("s{session}-day{}", event.second / 86_400)),
        };
    }
    if let Some(visitor) = event.visitor {
        value["visitor_id"] = json!(format!("v{visitor}"));
    }
    if let Some(path) = event.path {
        value["path"] = json!(["/", "/shoes", "/cart"][path]);
    }
    if kind == "purchase" {
        value["order_amount"] = json!(f64::from(event.cents) / 100.0);
        if let Some(currency) = event.currency {
            value["currency"] = json!(["EUR", "USD"][currency]);
        }
    }
    value
}

const CHANNELS: [&str; 3] = ["Direct", "Email", "Organic Search"];

fn to_event(event: &RandomEvent) -> Event {
    let mut stored = Event::from_json(to_json(event), Utc::now(), new_event_id).expect("valid");
    stored.traffic = Traffic {
        channel: event.channel.map(|c| CHANNELS[c].to_owned()),
        ..Traffic::default()
    };
    stored
}

/// A `from`/`to` pair: local dates, instants off the 15-minute grid, or nothing.
fn random_range() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (0..DAYS, 1..DAYS).prop_map(|(day, length)| {
            let from = (start() + TimeDelta::days(day)).date_naive();
            format!("&from={from}&to={}", from + TimeDelta::days(length))
        }),
        (0..DAYS * 86_400, 1..10 * 86_400i64).prop_map(|(offset, length)| {
            let from = start() + TimeDelta::seconds(offset);
            let to = from + TimeDelta::seconds(length);
            format!(
                "&from={}&to={}",
                encode(&from.to_rfc3339()),
                encode(&to.to_rfc3339())
            )
        }),
        (0..DAYS)
            .prop_map(|day| format!("&from={}", (start() + TimeDelta::days(day)).date_naive())),
        // A local month (or one or more of them), give or take a day at either end.
        (9..=11u32, 1..=3u32, -1..=1i64, -1..=1i64).prop_map(|(month, months, early, late)| {
            let first = |month: u32| {
                chrono::NaiveDate::from_ymd_opt(
                    2025 + i32::from(month > 12),
                    (month - 1) % 12 + 1,
                    1,
                )
                .unwrap_or_default()
            };
            let from = first(month) + TimeDelta::days(early);
            let to = first(month + months) + TimeDelta::days(late);
            format!("&from={from}&to={to}")
        }),
        (
            -MONTHS_BEFORE * 86_400..DAYS * 86_400,
            20 * 86_400..70 * 86_400i64
        )
            .prop_map(|(offset, length)| {
                let from = start() + TimeDelta::seconds(offset);
                let to = from + TimeDelta::seconds(length);
                format!(
                    "&from={}&to={}",
                    encode(&from.to_rfc3339()),
                    encode(&to.to_rfc3339())
                )
            }),
    ]
}

fn encode(text: &str) -> String {
    text.replace('+', "%2B")
}

/// Stores the events in two batches. Every day of the first is rolled up in between, so the
/// second (whose events land in the same days) makes some day rows stale; then `rolled_up`
/// days are rolled up again, leaving a mix of days with and without day rows. The writer
/// folds raw rows into the rollups once `fold_rows` wait, so some rows may be past the
/// rollups' watermark when the questions are asked.
fn store(
    events: &[RandomEvent],
    rolled_up: usize,
    fold_rows: usize,
) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.db");
    let mut writer = Writer::open(&path).expect("opens");
    writer.set_fold_rows(fold_rows);
    let events: Vec<Event> = events.iter().map(to_event).collect();
    let (first, rest) = events.split_at(events.len() / 2);
    let now = Utc::now().timestamp_micros();
    writer.insert_batch(first).expect("stores");
    let quiet = std::time::Duration::ZERO;
    while writer
        .roll_up_next_day(now, quiet)
        .expect("rolls up")
        .is_some()
    {}
    writer.insert_batch(rest).expect("stores");
    // A replayed batch must change nothing.
    writer.insert_batch(first).expect("stores again");
    for _ in 0..rolled_up {
        writer.roll_up_next_day(now, quiet).expect("rolls up");
    }
    (dir, Connection::open(&path).expect("opens"))
}

fn same<T: serde::Serialize>(rolled: T, raw: T, what: &str) -> Result<(), TestCaseError> {
    let (rolled, raw) = (
        serde_json::to_value(rolled).expect("json"),
        serde_json::to_value(raw).expect("json"),
    );
    prop_assert_eq!(rolled, raw, "{}", what);
    Ok(())
}

/// Asks every question of each store, from the rollups and from raw rows, and compares each
/// answer with the first store's raw answer.
#[allow(clippy::too_many_arguments)]
fn check_all(
    stores: &[&dyn ReadBackend],
    zone: usize,
    range: &str,
    shop: Option<usize>,
    interval: &str,
    sort: &str,
) -> Result<(), TestCaseError> {
    let shop = shop
        .map(|s| format!("&shop_id=shop-{s}"))
        .unwrap_or_default();
    let scope = format!("tz={}{range}{shop}", ZONES[zone]);
    let query = |extra: &str| format!("{scope}{extra}");
    let base = stores[0];
    for (i, &store) in stores.iter().enumerate() {
        for plan in [Plan::Rollup, Plan::Raw] {
            let what = |name: &str| format!("{name} from store {i} by {plan:?}");
            let request =
                summary::SummaryRequest::parse(Some(&query("&compare=previous"))).expect("valid");
            same(
                summary::compute(store, &request, plan).expect("answers"),
                summary::compute(base, &request, Plan::Raw).expect("raw"),
                &what("summary"),
            )?;
            // Minutes over a long range are refused (over 5000 points): when the dates are
            // given, before any plan; without them, by both plans alike.
            if let Ok(request) =
                timeseries::TimeseriesRequest::parse(Some(&query(&format!("&interval={interval}"))))
            {
                same(
                    timeseries::compute(store, &request, plan).map_err(|e| format!("{e:?}")),
                    timeseries::compute(base, &request, Plan::Raw).map_err(|e| format!("{e:?}")),
                    &what("timeseries"),
                )?;
            }
            let request =
                products::ProductsRequest::parse(Some(&query(&format!("&sort={sort}&limit=3"))))
                    .expect("valid");
            same(
                products::compute(store, &request, plan).expect("answers"),
                products::compute(base, &request, Plan::Raw).expect("raw"),
                &what("products"),
            )?;
            for extra in ["", "&product_id=p1"] {
                let request = funnel::FunnelRequest::parse(Some(&query(extra))).expect("valid");
                same(
                    funnel::compute(store, &request, plan).expect("answers"),
                    funnel::compute(base, &request, Plan::Raw).expect("raw"),
                    &what("funnel"),
                )?;
            }
            let request = summary::SummaryRequest::parse(Some(&query(""))).expect("valid");
            same(
                shops::compute(store, &request.scope, plan).expect("answers"),
                shops::compute(base, &request.scope, Plan::Raw).expect("raw"),
                &what("shops"),
            )?;
            let filter = request.scope.filter();
            same(
                original::compute(store, &filter, plan).expect("answers"),
                original::compute(base, &filter, Plan::Raw).expect("raw"),
                &what("original"),
            )?;
            // The breakdown's people per value come from the day rows per attributed value
            // (whole days, cut days' buckets, raw edges), its sums from the rollups.
            for dimension in ["channel", "landing_page"] {
                let request = breakdown::BreakdownRequest::parse(Some(&query(&format!(
                    "&dimension={dimension}&limit=1000&compare=previous"
                ))))
                .expect("valid");
                same(
                    breakdown::compute(store, &request, plan).expect("answers"),
                    breakdown::compute(base, &request, Plan::Raw).expect("raw"),
                    &what(&format!("breakdown by {dimension}")),
                )?;
            }
            // Under one attribute filter, the people passes walk that value's day rows.
            for one in ["&channel=Email", "&channel=(none)", "&landing_page=/shoes"] {
                let what = |name: &str| what(&format!("{name} under {one}"));
                let request = summary::SummaryRequest::parse(Some(&query(&format!(
                    "{one}&compare=previous"
                ))))
                .expect("valid");
                same(
                    summary::compute(store, &request, plan).expect("answers"),
                    summary::compute(base, &request, Plan::Raw).expect("raw"),
                    &what("summary"),
                )?;
                if let Ok(request) = timeseries::TimeseriesRequest::parse(Some(&query(&format!(
                    "{one}&interval={interval}"
                )))) {
                    same(
                        timeseries::compute(store, &request, plan).map_err(|e| format!("{e:?}")),
                        timeseries::compute(base, &request, Plan::Raw)
                            .map_err(|e| format!("{e:?}")),
                        &what("timeseries"),
                    )?;
                }
                for extra in ["&by=sessions", "&by=sessions&product_id=p1"] {
                    let request =
                        funnel::FunnelRequest::parse(Some(&query(&format!("{one}{extra}"))))
                            .expect("valid");
                    same(
                        funnel::compute(store, &request, plan).expect("answers"),
                        funnel::compute(base, &request, Plan::Raw).expect("raw"),
                        &what("funnel"),
                    )?;
                }
            }
            // The attributed dimensions, whose rows moved when a later batch took a session
            // over (its earlier events may have been folded or not yet).
            for dimension in Dimension::ALL.into_iter().filter(|d| !d.keeps_extremes()) {
                let sums = |store: &dyn ReadBackend, plan| {
                    read::sums_by_value(store, &filter, dimension, None, plan)
                        .expect("reads")
                        .into_iter()
                        .collect::<std::collections::BTreeMap<_, _>>()
                };
                prop_assert_eq!(
                    sums(store, plan),
                    sums(base, Plan::Raw),
                    "{}",
                    what(&format!("{dimension:?}"))
                );
            }
        }
    }
    Ok(())
}

/// The same events stored in PostgreSQL the way [`store`] stores them in SQLite.
fn store_postgres(events: &[RandomEvent], rolled_up: usize) -> String {
    let url = postgres_server().database();
    let mut writer = PgWriter::open(&url).expect("opens");
    let events: Vec<Event> = events.iter().map(to_event).collect();
    let (first, rest) = events.split_at(events.len() / 2);
    let now = Utc::now().timestamp_micros();
    let quiet = std::time::Duration::ZERO;
    writer.insert_batch(first).expect("stores");
    while writer
        .roll_up_next_day(now, quiet)
        .expect("rolls up")
        .is_some()
    {}
    writer.insert_batch(rest).expect("stores");
    writer.insert_batch(first).expect("stores again");
    for _ in 0..rolled_up {
        writer.roll_up_next_day(now, quiet).expect("rolls up");
    }
    url
}

/// One private PostgreSQL cluster for this test binary.
fn postgres_server() -> &'static test_support::PostgresServer {
    static SERVER: std::sync::OnceLock<test_support::PostgresServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(test_support::PostgresServer::start)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rollup_answers_equal_raw_scans(
        events in proptest::collection::vec(random_event(), 0..80),
        zone in 0..ZONES.len(),
        range in random_range(),
        shop in proptest::option::of(0..3usize),
        interval in prop_oneof![Just("minute"), Just("hour"), Just("day"), Just("week"), Just("month")],
        sort in prop_oneof![Just("page_views"), Just("revenue"), Just("conversion_rate")],
        rolled_up in 0..=DAYS as usize,
        fold_rows in prop_oneof![Just(0), Just(usize::MAX), 1..60usize],
    ) {
        let (_dir, connection) = store(&events, rolled_up, fold_rows);
        check_all(&[&connection], zone, &range, shop, interval, sort)?;
    }
}

proptest! {
    // Each case creates a database: fewer cases than SQLite's, the same generator.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// PostgreSQL's answers, from its rollups and its raw rows, are SQLite's.
    #[test]
    fn postgres_answers_equal_sqlite_raw_scans(
        events in proptest::collection::vec(random_event(), 0..80),
        zone in 0..ZONES.len(),
        range in random_range(),
        shop in proptest::option::of(0..3usize),
        interval in prop_oneof![Just("minute"), Just("hour"), Just("day"), Just("week"), Just("month")],
        sort in prop_oneof![Just("page_views"), Just("revenue"), Just("conversion_rate")],
        rolled_up in 0..=DAYS as usize,
    ) {
        let (_dir, connection) = store(&events, rolled_up, usize::MAX);
        let url = store_postgres(&events, rolled_up);
        let mut client = events_core::store::pg::connect(&url).expect("connects");
        let reads = PgReads::new(&mut client);
        check_all(&[&connection, &reads], zone, &range, shop, interval, sort)?;
    }
}

#[test]
fn rows_imported_from_the_original_are_rolled_up_by_the_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("original.db");
    let connection = Connection::open(&path).expect("opens");
    connection
        .execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, event_type TEXT NOT NULL,
                timestamp DATETIME NOT NULL, product_id TEXT, order_amount REAL,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
             PRAGMA user_version = 1;
             INSERT INTO events (event_type, timestamp, product_id, order_amount) VALUES
                ('purchase', '2025-10-02T10:40:00Z', 'prod-1', 99.99),
                ('purchase', '2025-10-02 10:41:00', 'prod-1', NULL),
                ('page_view', 'not a time', 'prod-2', NULL),
                ('page_view', '2025-10-02T11:00:00Z', 'prod-2', NULL);",
        )
        .expect("original rows");
    drop(connection);
    drop(Writer::open(&path).expect("migrates"));
    let connection = Connection::open(&path).expect("opens");
    for filter in [
        events_core::store::EventFilter::default(),
        events_core::store::EventFilter {
            to_micros: Some(start().timestamp_micros()),
            ..Default::default()
        },
    ] {
        let rolled = original::compute(&connection, &filter, Plan::Rollup).expect("rollup");
        let raw = original::compute(&connection, &filter, Plan::Raw).expect("raw");
        assert_eq!(rolled, raw);
    }
    let all = original::compute(&connection, &Default::default(), Plan::Rollup).expect("rollup");
    assert_eq!((all.total_page_views, all.total_purchases), (2, 2));
    assert_eq!(all.average_purchase_value, 99.99);
}
