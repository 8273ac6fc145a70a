//! Attribution and filters (docs/API.md, "Where buyers come from") against naive computations over the same random events:
//! sessions whose events arrive out of order (a session's first event stored in a later batch
//! than its later ones), across 15-minute buckets, day borders and seven zones, with bots
//! mixed in.
//!
//! - A filtered answer of every report equals the unfiltered answer over a store holding only
//!   the matching sessions' events (in the same arrival order), as the spec defines filters.
//! - A breakdown equals rows computed here from the event list, with each session credited to
//!   its first event by time, then arrival.
//! - PostgreSQL, fed the same batches, gives every (filtered) report SQLite gives (docs/OPERATIONS.md, "PostgreSQL").

use std::collections::{HashMap, HashSet};

use analytics::routes::{breakdown, funnel, original, products, summary, timeseries};
use chrono::{DateTime, TimeDelta, Utc};
use events_core::attribution::{Attribute, BreakdownDimension};
use events_core::event::{Event, EventType, Traffic, new_event_id};
use events_core::formulas::{BreakdownRow, BreakdownSort, rank_breakdown};
use events_core::sessions::SessionCounts;
use events_core::store::pg::{PgReads, PgWriter};
use events_core::store::{Plan, ReadBackend, WriteBackend, Writer};
use events_core::sums::Sums;
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
const DAYS: i64 = 4;
const CHANNELS: [&str; 3] = ["Direct", "Organic Search", "Email"];
const COUNTRIES: [&str; 2] = ["DE", "IN"];
const DEVICES: [&str; 2] = ["desktop", "mobile"];
const PATHS: [&str; 3] = ["/", "/shoes", "/cart"];

fn start() -> DateTime<Utc> {
    "2025-10-25T00:00:00Z".parse().unwrap_or_default()
}

#[derive(Debug, Clone)]
struct RandomEvent {
    kind: usize,
    /// Seconds after [`start`]; coarse, so that events of one session share times (ties go by
    /// arrival).
    second: i64,
    shop: usize,
    session: Option<usize>,
    visitor: Option<usize>,
    product: Option<usize>,
    cents: u32,
    channel: Option<usize>,
    country: Option<usize>,
    device: Option<usize>,
    path: Option<usize>,
    bot: bool,
    /// Which of three batches stores it: later batches may hold a session's earlier events.
    batch: usize,
}

fn random_event() -> impl Strategy<Value = RandomEvent> {
    (
        (
            0..3usize,
            prop_oneof![
                (0..DAYS * 96).prop_map(|quarter| quarter * 900),
                (0..DAYS * 86_400),
                // Around UTC midnight of the second day: sessions straddle a day border.
                (86_400 - 1_200..86_400 + 1_200i64),
            ],
            0..2usize,
            proptest::option::of(0..5usize),
            proptest::option::of(0..5usize),
            proptest::option::of(0..3usize),
            0..100_000u32,
        ),
        (
            proptest::option::of(0..CHANNELS.len()),
            proptest::option::of(0..COUNTRIES.len()),
            proptest::option::of(0..DEVICES.len()),
            proptest::option::of(0..PATHS.len()),
            prop::bool::weighted(0.1),
            0..3usize,
        ),
    )
        .prop_map(
            |(
                (kind, second, shop, session, visitor, product, cents),
                (channel, country, device, path, bot, batch),
            )| RandomEvent {
                kind,
                second,
                shop,
                session,
                visitor,
                product,
                cents,
                channel,
                country,
                device,
                path,
                bot,
                batch,
            },
        )
}

impl RandomEvent {
    fn event_type(&self) -> EventType {
        [
            EventType::PageView,
            EventType::AddToCart,
            EventType::Purchase,
        ][self.kind]
    }

    fn shop_id(&self) -> String {
        format!("shop-{}", self.shop)
    }

    /// Session ids are unique per shop, as real ones are.
    fn session_id(&self) -> Option<String> {
        self.session.map(|s| format!("shop-{}-s{s}", self.shop))
    }

    fn path(&self) -> Option<&'static str> {
        self.path.map(|p| PATHS[p])
    }

    fn to_event(&self) -> Event {
        let kind = ["page_view", "add_to_cart", "purchase"][self.kind];
        let time = start() + TimeDelta::seconds(self.second);
        let mut value = json!({"event_type": kind, "timestamp": time.to_rfc3339(),
            "shop_id": self.shop_id()});
        if let Some(session) = self.session_id() {
            value["session_id"] = json!(session);
        }
        if let Some(visitor) = self.visitor {
            value["visitor_id"] = json!(format!("v{visitor}"));
        }
        if let Some(product) = self.product {
            value["product_id"] = json!(format!("p{product}"));
        }
        if let Some(path) = self.path() {
            value["path"] = json!(path);
        }
        if kind == "purchase" {
            value["order_amount"] = json!(f64::from(self.cents) / 100.0);
        }
        let mut event = Event::from_json(value, Utc::now(), new_event_id).expect("valid");
        event.traffic = Traffic {
            channel: self.channel.map(|c| CHANNELS[c].to_owned()),
            country: self.country.map(|c| COUNTRIES[c].to_owned()),
            device: self.device.map(|d| DEVICES[d].to_owned()),
            is_bot: self.bot,
            ..Traffic::default()
        };
        event
    }

    /// Its own value of an attribute (what it is credited to without a session).
    fn own(&self, attribute: Attribute) -> Option<&'static str> {
        match attribute {
            Attribute::Channel => self.channel.map(|c| CHANNELS[c]),
            Attribute::Country => self.country.map(|c| COUNTRIES[c]),
            Attribute::Device => self.device.map(|d| DEVICES[d]),
            Attribute::LandingPage => self.path().filter(|_| self.kind == 0),
            _ => None,
        }
    }
}

/// The events in arrival order: batch by batch, each in list order.
fn arrivals(events: &[RandomEvent]) -> Vec<RandomEvent> {
    (0..3)
        .flat_map(|batch| events.iter().filter(move |e| e.batch == batch).cloned())
        .collect()
}

/// Each session's first event and first page view (by time, then arrival), naively.
struct Sessions {
    first: HashMap<(usize, String), usize>,
    landing: HashMap<(usize, String), usize>,
}

impl Sessions {
    fn of(arrived: &[RandomEvent]) -> Sessions {
        let mut first: HashMap<(usize, String), usize> = HashMap::new();
        let mut landing: HashMap<(usize, String), usize> = HashMap::new();
        for (i, event) in arrived.iter().enumerate() {
            let Some(session) = event.session_id().filter(|_| !event.bot) else {
                continue;
            };
            let key = (event.shop, session);
            let earlier = |j: &usize| arrived[*j].second <= event.second;
            if !first.get(&key).is_some_and(earlier) {
                first.insert(key.clone(), i);
            }
            if event.kind == 0 && !landing.get(&key).is_some_and(earlier) {
                landing.insert(key, i);
            }
        }
        Sessions { first, landing }
    }

    /// The value `event` is credited to.
    fn credit(
        &self,
        arrived: &[RandomEvent],
        event: &RandomEvent,
        attribute: Attribute,
    ) -> Option<&'static str> {
        let Some(session) = event.session_id() else {
            return event.own(attribute);
        };
        let key = (event.shop, session);
        match attribute {
            Attribute::LandingPage => self.landing.get(&key).and_then(|&i| arrived[i].path()),
            other => arrived[self.first[&key]].own(other),
        }
    }
}

/// A filter: an attribute and a value (`None`: `(none)`), or a page.
#[derive(Debug, Clone)]
enum Filter {
    Attribute(Attribute, Option<&'static str>),
    Page(&'static str),
}

fn random_filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        proptest::option::of(0..CHANNELS.len())
            .prop_map(|c| Filter::Attribute(Attribute::Channel, c.map(|c| CHANNELS[c]))),
        proptest::option::of(0..COUNTRIES.len())
            .prop_map(|c| Filter::Attribute(Attribute::Country, c.map(|c| COUNTRIES[c]))),
        proptest::option::of(0..PATHS.len())
            .prop_map(|p| Filter::Attribute(Attribute::LandingPage, p.map(|p| PATHS[p]))),
        (0..PATHS.len()).prop_map(|p| Filter::Page(PATHS[p])),
    ]
}

impl Filter {
    fn query(&self) -> String {
        let encode = |v: &str| v.replace(' ', "%20").replace('/', "%2F");
        match self {
            Filter::Attribute(attribute, value) => {
                format!(
                    "&{}={}",
                    attribute.name(),
                    encode(value.unwrap_or("(none)"))
                )
            }
            Filter::Page(path) => format!("&page={}", encode(path)),
        }
    }

    /// Whether the filter keeps `event` (never a bot).
    fn keeps(&self, sessions: &Sessions, arrived: &[RandomEvent], event: &RandomEvent) -> bool {
        if event.bot {
            return false;
        }
        match self {
            Filter::Attribute(attribute, value) => {
                sessions.credit(arrived, event, *attribute) == *value
            }
            Filter::Page(path) => match event.session_id() {
                None => event.kind == 0 && event.path() == Some(*path),
                Some(session) => arrived.iter().any(|other| {
                    !other.bot
                        && other.shop == event.shop
                        && other.session_id().as_deref() == Some(session.as_str())
                        && other.kind == 0
                        && other.path() == Some(*path)
                }),
            },
        }
    }
}

/// A store holding `arrived`, stored in three batches (or one) in that order, folded at
/// random moments.
fn store(arrived: &[RandomEvent], batches: bool) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.db");
    let mut writer = Writer::open(&path).expect("opens");
    writer.set_fold_rows(7);
    if batches {
        for batch in 0..3 {
            let events: Vec<Event> = arrived
                .iter()
                .filter(|e| e.batch == batch)
                .map(RandomEvent::to_event)
                .collect();
            writer.insert_batch(&events).expect("stores");
        }
    } else {
        let events: Vec<Event> = arrived.iter().map(RandomEvent::to_event).collect();
        writer.insert_batch(&events).expect("stores");
    }
    (dir, Connection::open(&path).expect("opens"))
}

/// The same batches stored in a new PostgreSQL database of this binary's cluster; its URL.
fn store_postgres(arrived: &[RandomEvent]) -> String {
    static SERVER: std::sync::OnceLock<test_support::PostgresServer> = std::sync::OnceLock::new();
    let url = SERVER
        .get_or_init(test_support::PostgresServer::start)
        .database();
    let mut writer = PgWriter::open(&url).expect("opens");
    for batch in 0..3 {
        let events: Vec<Event> = arrived
            .iter()
            .filter(|e| e.batch == batch)
            .map(RandomEvent::to_event)
            .collect();
        writer.insert_batch(&events).expect("stores");
    }
    url
}

fn random_range() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (0..DAYS, 1..DAYS).prop_map(|(day, length)| {
            let from = (start() + TimeDelta::days(day)).date_naive();
            format!("&from={from}&to={}", from + TimeDelta::days(length))
        }),
        (0..DAYS * 86_400, 1..2 * 86_400i64).prop_map(|(offset, length)| {
            let from = start() + TimeDelta::seconds(offset);
            let to = from + TimeDelta::seconds(length);
            let encode = |t: DateTime<Utc>| t.to_rfc3339().replace('+', "%2B");
            format!("&from={}&to={}", encode(from), encode(to))
        }),
    ]
}

fn json<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("json")
}

/// Every report of `scope` over `store`, as JSON.
fn reports(store: &dyn ReadBackend, scope: &str, interval: &str, dimension: &str) -> Vec<Value> {
    let query = |extra: &str| format!("{scope}{extra}");
    let plan = Plan::Rollup;
    let mut out = vec![json(
        summary::compute(
            store,
            &summary::SummaryRequest::parse(Some(&query("&compare=previous"))).expect("q"),
            plan,
        )
        .expect("summary"),
    )];
    if let Ok(request) =
        timeseries::TimeseriesRequest::parse(Some(&query(&format!("&interval={interval}"))))
    {
        out.push(json(
            timeseries::compute(store, &request, plan).map_err(|e| format!("{e:?}")),
        ));
    }
    let request = products::ProductsRequest::parse(Some(&query("&sort=revenue"))).expect("q");
    out.push(json(
        products::compute(store, &request, plan).expect("products"),
    ));
    for extra in ["&by=events", "&by=sessions", "&by=sessions&product_id=p1"] {
        let request = funnel::FunnelRequest::parse(Some(&query(extra))).expect("q");
        out.push(json(
            funnel::compute(store, &request, plan).expect("funnel"),
        ));
    }
    let request = breakdown::BreakdownRequest::parse(Some(&query(&format!(
        "&dimension={dimension}&limit=1000&compare=previous"
    ))))
    .expect("q");
    out.push(json(
        breakdown::compute(store, &request, plan).expect("breakdown"),
    ));
    out
}

/// The `/api/analytics` answer of a scope query (which takes no `compare`).
fn original_of(store: &dyn ReadBackend, scope: &str) -> Value {
    let request = original::AnalyticsRequest::parse(Some(scope)).expect("q");
    json(
        original::compute_filtered(
            store,
            &request.scope.filter(),
            &request.filters.selection(),
            Plan::Rollup,
        )
        .expect("original"),
    )
}

/// Breakdown rows computed here, from the event list.
fn naive_breakdown(
    arrived: &[RandomEvent],
    keep: impl Fn(&RandomEvent) -> bool,
    dimension: BreakdownDimension,
) -> Vec<BreakdownRow> {
    let sessions = Sessions::of(arrived);
    let mut groups: HashMap<Option<&str>, Vec<&RandomEvent>> = HashMap::new();
    for event in arrived.iter().filter(|e| !e.bot && keep(e)) {
        let value = match dimension {
            BreakdownDimension::Attribute(attribute) => sessions.credit(arrived, event, attribute),
            BreakdownDimension::Page if event.kind == 0 => event.path(),
            BreakdownDimension::Page => continue,
        };
        groups.entry(value).or_default().push(event);
    }
    groups
        .into_iter()
        .map(|(value, events)| {
            let visitors = events
                .iter()
                .filter_map(|e| e.visitor)
                .collect::<HashSet<_>>()
                .len() as u64;
            if dimension == BreakdownDimension::Page {
                return BreakdownRow::page(value.map(str::to_owned), events.len() as u64, visitors);
            }
            let mut sums = Sums::default();
            let mut by_session: HashMap<String, Vec<&RandomEvent>> = HashMap::new();
            for event in &events {
                let amount = (event.kind == 2).then(|| i64::from(event.cents) * 10_000);
                sums.observe(event.event_type(), amount);
                if let Some(session) = event.session_id() {
                    by_session.entry(session).or_default().push(event);
                }
            }
            let mut counts = SessionCounts {
                sessions: by_session.len() as u64,
                ..SessionCounts::default()
            };
            for events in by_session.values() {
                counts.converted += u64::from(events.iter().any(|e| e.kind == 2));
                counts.bounced += u64::from(events.len() == 1 && events[0].kind == 0);
                counts.page_views += events.iter().filter(|e| e.kind == 0).count() as u64;
                let first = events.iter().map(|e| e.second).min().unwrap_or(0);
                let last = events.iter().map(|e| e.second).max().unwrap_or(0);
                counts.duration_micros += i128::from(last - first) * 1_000_000;
            }
            BreakdownRow::compute(value.map(str::to_owned), &sums, visitors, &counts)
        })
        .collect()
}

/// The range a query's `from`/`to` select, in seconds after [`start`], for the naive side.
fn range_seconds(store: &Connection, scope: &str) -> (i64, i64) {
    let _ = store;
    let request = summary::SummaryRequest::parse(Some(scope)).expect("q");
    let filter = request.scope.filter();
    let base = start().timestamp_micros();
    let seconds = |micros: i64| (micros - base).div_euclid(1_000_000);
    let ceil = |micros: i64| -(-(micros - base)).div_euclid(1_000_000);
    (
        filter.from_micros.map_or(i64::MIN, seconds),
        filter.to_micros.map_or(i64::MAX, ceil),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn a_filtered_answer_is_the_answer_over_only_the_matching_sessions(
        events in proptest::collection::vec(random_event(), 0..50),
        zone in 0..ZONES.len(),
        range in random_range(),
        shop in proptest::option::of(0..2usize),
        filter in proptest::option::of(random_filter()),
        interval in prop_oneof![Just("hour"), Just("day"), Just("week")],
        dimension in prop_oneof![Just("channel"), Just("country"), Just("landing_page"), Just("device"), Just("page")],
    ) {
        let arrived = arrivals(&events);
        let sessions = Sessions::of(&arrived);
        let matching: Vec<RandomEvent> = arrived
            .iter()
            .filter(|e| filter.as_ref().is_none_or(|f| f.keeps(&sessions, &arrived, e)) && !e.bot)
            .cloned()
            .collect();
        let (_all_dir, all) = store(&arrived, true);
        let (_only_dir, only) = store(&matching, false);
        let shop = shop.map(|s| format!("&shop_id=shop-{s}")).unwrap_or_default();
        let scope = format!("tz={}{range}{shop}", ZONES[zone]);
        let filtered = format!("{scope}{}", filter.as_ref().map(Filter::query).unwrap_or_default());
        prop_assert_eq!(
            reports(&all, &filtered, interval, dimension),
            reports(&only, &scope, interval, dimension)
        );
        prop_assert_eq!(original_of(&all, &filtered), original_of(&only, &scope));
    }

    #[test]
    fn a_breakdown_credits_each_session_to_its_first_event(
        events in proptest::collection::vec(random_event(), 0..60),
        zone in 0..ZONES.len(),
        range in random_range(),
        dimension in prop_oneof![Just("channel"), Just("country"), Just("landing_page"), Just("device"), Just("page")],
        sort in 0..BreakdownSort::ALL.len(),
    ) {
        let arrived = arrivals(&events);
        let (_dir, connection) = store(&arrived, true);
        let scope = format!("tz={}{range}", ZONES[zone]);
        let (from, to) = range_seconds(&connection, &scope);
        let (sort_name, sort) = BreakdownSort::ALL[sort];
        let request = breakdown::BreakdownRequest::parse(Some(&format!(
            "{scope}&dimension={dimension}&sort={sort_name}&limit=1000"
        )))
        .expect("q");
        let dimension = BreakdownDimension::parse(dimension).expect("dimension");
        let expected = rank_breakdown(
            naive_breakdown(&arrived, |e| e.second >= from && e.second < to, dimension),
            sort,
        );
        // The sums from the rollups (whose attributed rows moved as sessions were taken
        // over) and from raw rows.
        for plan in [Plan::Rollup, Plan::Raw] {
            let answer = breakdown::compute(&connection, &request, plan).expect("breakdown");
            prop_assert_eq!(answer.total, expected.len());
            prop_assert_eq!(json(answer.rows), json(&expected));
        }
    }
}

proptest! {
    // Each case creates a database: fewer cases, the same generators.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Sessions taken over by a late first event, landing pages, bots and every filter give
    /// the same reports from PostgreSQL as from SQLite.
    #[test]
    fn postgres_attributes_and_filters_as_sqlite_does(
        events in proptest::collection::vec(random_event(), 0..50),
        zone in 0..ZONES.len(),
        range in random_range(),
        filter in proptest::option::of(random_filter()),
        interval in prop_oneof![Just("hour"), Just("day"), Just("week")],
        dimension in prop_oneof![Just("channel"), Just("country"), Just("landing_page"), Just("device"), Just("page")],
    ) {
        let arrived = arrivals(&events);
        let (_dir, sqlite) = store(&arrived, true);
        let url = store_postgres(&arrived);
        let mut client = events_core::store::pg::connect(&url).expect("connects");
        let postgres = PgReads::new(&mut client);
        let scope = format!("tz={}{range}", ZONES[zone]);
        let filtered = format!("{scope}{}", filter.as_ref().map(Filter::query).unwrap_or_default());
        prop_assert_eq!(
            reports(&postgres, &filtered, interval, dimension),
            reports(&sqlite, &filtered, interval, dimension)
        );
        prop_assert_eq!(original_of(&postgres, &filtered), original_of(&sqlite, &filtered));
        let everything = events_core::store::EventFilter::default();
        prop_assert_eq!(
            postgres.bot_events(&everything).expect("counts"),
            sqlite.bot_events(&everything).expect("counts")
        );
    }
}

fn traffic_event(value: Value, traffic: Traffic) -> Event {
    let mut event = Event::from_json(value, Utc::now(), new_event_id).expect("valid");
    event.traffic = traffic;
    event
}

/// Through the router: a session whose purchase arrives before its landing page view is
/// credited to the page view's channel; bots show only as `bot_events`.
#[tokio::test]
async fn the_api_credits_a_purchase_to_its_sessions_first_page_view() {
    let app = crate::spawn_app().await;
    let search = Traffic {
        channel: Some("Organic Search".into()),
        source: Some("Google".into()),
        device: Some("mobile".into()),
        ..Traffic::default()
    };
    let bot = Traffic {
        is_bot: true,
        ..Traffic::default()
    };
    app.store_events(&[
        traffic_event(
            json!({"event_type": "purchase", "timestamp": "2025-10-02T10:20:00Z",
                "session_id": "s1", "visitor_id": "v1", "order_amount": 90.5}),
            Traffic::default(),
        ),
        traffic_event(
            json!({"event_type": "page_view", "timestamp": "2025-10-02T10:00:00Z",
                "path": "/bot", "session_id": "b1", "visitor_id": "b1"}),
            bot,
        ),
    ]);
    app.store_events(&[traffic_event(
        json!({"event_type": "page_view", "timestamp": "2025-10-02T10:05:00Z",
            "path": "/shoes", "session_id": "s1", "visitor_id": "v1"}),
        search,
    )]);
    let (status, body) = app
        .get_json("/api/v1/breakdown?dimension=channel&from=2025-10-02T10:10:00Z")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"dimension": "channel", "total": 1, "rows": [{"value": "Organic Search",
            "visitors": 1, "sessions": 1, "page_views": 0, "add_to_carts": 0, "purchases": 1,
            "revenue": 90.5, "conversion_rate": 0.0, "session_conversion_rate": 100.0,
            "average_order_value": 90.5, "bounce_rate": 0.0}]})
    );
    let (_, landing) = app
        .get_json("/api/v1/summary?landing_page=%2Fshoes&device=mobile")
        .await;
    let metrics = &landing["metrics"];
    assert_eq!(
        (
            &metrics["purchases"],
            &metrics["page_views"],
            &metrics["sessions"],
            &metrics["bounce_rate"],
            &metrics["average_session_duration"],
            &metrics["new_visitors"],
        ),
        (
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(0.0),
            &json!(900),
            &json!(1)
        )
    );
    let (_, none) = app.get_json("/api/analytics?channel=(none)").await;
    assert_eq!(none["total_page_views"], json!(0));
    let (_, shops) = app.get_json("/api/v1/shops").await;
    assert_eq!(
        (
            &shops["shops"][0]["events"],
            &shops["shops"][0]["bot_events"]
        ),
        (&json!(2), &json!(1))
    );
    let (_, pages) = app.get_json("/api/v1/breakdown?dimension=page").await;
    assert_eq!(pages["rows"][0]["value"], json!("/shoes"));
    assert_eq!(pages["total"], json!(1));
}

#[tokio::test]
async fn bad_breakdowns_and_filters_are_refused_by_name() {
    let app = crate::spawn_app().await;
    for (query, parameter) in [
        ("/api/v1/breakdown", "dimension"),
        ("/api/v1/breakdown?dimension=city", "dimension"),
        ("/api/v1/breakdown?dimension=os&sort=price", "sort"),
        ("/api/v1/breakdown?dimension=os&limit=0", "limit"),
        ("/api/v1/summary?channel=", "channel"),
        ("/api/v1/realtime?channel=Direct", "channel"),
        ("/api/v1/shops?country=DE", "country"),
        ("/api/v1/funnel?page=(none)", "page"),
    ] {
        let (status, body) = app.get_json(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.to_string().contains(parameter),
            "{query} names {parameter}: {body}"
        );
    }
    let response = app
        .get("/api/v1/export?dataset=events&channel=Direct")
        .await;
    assert_eq!(response.status(), 200);
    let csv = response.text().await.expect("text");
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
}
