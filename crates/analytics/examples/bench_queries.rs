//! `make bench-queries`: how fast the `/api/v1` questions are answered from the rollups, next to the
//! same questions answered by raw scans, over a store loaded through the real insert path.
//!
//! It loads `BENCH_EVENTS` events (1,000,000 by default) spread over 90 days, 20 shops and
//! 10,000 products with skewed popularity, in batches of 10,000 through `Writer::insert_batch`
//! (so the rollups are built as the consumer builds them), rolls up the ended days (day rows)
//! as the consumer does in the background, then times each question
//! `BENCH_RUNS` times (20) with each plan and prints p50, p95 and the raw/rollup ratio.
//! `BENCH_RAW_RUNS` lowers the runs of the raw plan, which takes seconds per run at 10M.
//! Each session carries a channel, source, campaign, device, browser, os and country, and each
//! event a path out of 20,000, for the breakdown and filter questions.
//! `BENCH_DB` keeps the loaded store at that path and reuses it when it exists; `BENCH_ONLY`
//! times only the questions whose name contains it. `DATABASE_URL=postgres://…` loads and
//! asks a PostgreSQL database instead (loaded only when it holds no events; each timed
//! question reads over one connection, as an analytics request does).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use analytics::params::QueryParams;
use analytics::routes::{
    breakdown, funnel, original, products, realtime, shops, summary, timeseries,
};
use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use events_core::dimension::Dimension;
use events_core::event::{Event, EventType, Traffic};
use events_core::store::pg::PgReads;
use events_core::store::segment::{Segment, narrowed_for_people};
use events_core::store::{EventFilter, Plan, ReadBackend, StoreUrl, Synchronous, people, read};
use rusqlite::Connection;

const DAYS: i64 = 90;
const SHOPS: u64 = 20;
const PRODUCTS: u64 = 10_000;
const VISITORS: u64 = 300_000;
const BATCH: usize = 10_000;

/// One question, asked with a plan.
type Question = Box<dyn Fn(&dyn ReadBackend, Plan) -> anyhow::Result<()>>;

fn main() -> anyhow::Result<()> {
    let events: u64 = env_number("BENCH_EVENTS", 1_000_000)?;
    let runs = env_number("BENCH_RUNS", 20)? as usize;
    let raw_runs = env_number("BENCH_RAW_RUNS", runs as u64)? as usize;
    let dir = tempfile::tempdir()?;
    let end: DateTime<Utc> = "2025-10-31T00:00:00Z".parse()?;
    let postgres = match std::env::var("DATABASE_URL") {
        Ok(text) if text.starts_with("postgres") => {
            Some(StoreUrl::parse(&text).context("DATABASE_URL")?)
        }
        _ => None,
    };
    let (url, mut pg_client, sqlite) = match postgres {
        Some(url) => {
            let StoreUrl::Postgres(text) = &url else {
                unreachable!("parsed as PostgreSQL")
            };
            drop(url.open_writer(Synchronous::Normal)?);
            let mut client = events_core::store::pg::connect(text)?;
            let stored: i64 = client.query_one("SELECT COUNT(*) FROM events", &[])?.get(0);
            if stored == 0 {
                load(&url, events, end)?;
            } else {
                println!("reusing {url}");
            }
            (url, Some(client), None)
        }
        None => {
            let path = match std::env::var_os("BENCH_DB") {
                Some(path) => PathBuf::from(path),
                None => dir.path().join("bench.db"),
            };
            let url = StoreUrl::Sqlite(path.clone());
            if !path.exists() {
                load(&url, events, end)?;
            } else {
                println!("reusing {}", path.display());
            }
            let connection = Connection::open(&path)?;
            (url, None, Some(connection))
        }
    };
    roll_up_days(&url)?;
    let pg_reads = pg_client.as_mut().map(PgReads::new);
    let connection: &dyn ReadBackend = match (&sqlite, &pg_reads) {
        (Some(connection), _) => connection,
        (None, Some(reads)) => reads,
        (None, None) => unreachable!("one store is open"),
    };
    let stored = read::totals(connection, &EventFilter::default(), Plan::Raw)?.events();
    let size = url
        .sqlite_path()
        .and_then(|path| std::fs::metadata(path).ok())
        .map_or(0, |m| m.len());
    println!(
        "{stored} events in the store {url} ({} MiB); {runs} runs per question (raw plan: {raw_runs})\n",
        size / (1 << 20)
    );

    let month = "from=2025-10-01&to=2025-10-31&tz=Europe/Berlin";
    let questions: Vec<(&str, Question)> = vec![
        (
            "summary sums, 30 local days, Berlin",
            Box::new(move |c, p| summary_sums(c, month, p)),
        ),
        (
            "summary sums, all time",
            Box::new(|c, p| summary_sums(c, "", p)),
        ),
        (
            "summary sums, 30 days, one shop",
            Box::new(move |c, p| summary_sums(c, &format!("{month}&shop_id=shop-03"), p)),
        ),
        (
            "timeseries sums, day, 90 days, Kolkata",
            Box::new(|c, p| {
                series_sums(
                    c,
                    "interval=day&tz=Asia/Kolkata&from=2025-08-02&to=2025-10-31",
                    p,
                )
            }),
        ),
        (
            "timeseries sums, hour, 7 days, Kathmandu",
            Box::new(|c, p| {
                series_sums(
                    c,
                    "interval=hour&tz=Asia/Kathmandu&from=2025-10-24&to=2025-10-31",
                    p,
                )
            }),
        ),
        (
            "timeseries sums, week, all time, St_Johns",
            Box::new(|c, p| series_sums(c, "interval=week&tz=America/St_Johns", p)),
        ),
        (
            "products by revenue, 30 days",
            Box::new(move |c, p| {
                let request =
                    products::ProductsRequest::parse(Some(&format!("{month}&sort=revenue")))?;
                products::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "products by views, 7 days, one shop",
            Box::new(|c, p| {
                let request = products::ProductsRequest::parse(Some(
                    "from=2025-10-24&to=2025-10-31&tz=Europe/Berlin&shop_id=shop-01",
                ))?;
                products::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "funnel by events, 30 days",
            Box::new(move |c, p| {
                let request = funnel::FunnelRequest::parse(Some(month))?;
                funnel::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "/api/analytics, all time",
            Box::new(|c, p| {
                original::compute(c, &EventFilter::default(), p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "shops, all time",
            Box::new(|c, p| {
                let scope = analytics::params::Scope::parse(&QueryParams::default())?;
                shops::compute(c, &scope, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "realtime, last 30 minutes",
            Box::new(move |c, p| {
                realtime::compute(c, None, end - TimeDelta::minutes(1), p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "visitors + sessions, 7 days",
            Box::new(|c, p| people_pass(c, "from=2025-10-24&to=2025-10-31&tz=Europe/Berlin", p)),
        ),
        (
            "visitors + sessions, 30 days",
            Box::new(move |c, p| people_pass(c, month, p)),
        ),
        (
            "funnel by sessions, 30 days",
            Box::new(move |c, p| {
                let request = funnel::FunnelRequest::parse(Some(&format!("{month}&by=sessions")))?;
                funnel::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "summary endpoint, 30 days (sums + people)",
            Box::new(move |c, p| {
                let request = summary::SummaryRequest::parse(Some(month))?;
                summary::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "breakdown channel, 30 days",
            Box::new(move |c, plan| breakdown_of(c, &format!("{month}&dimension=channel"), plan)),
        ),
        (
            "breakdown source, 30 days",
            Box::new(move |c, plan| breakdown_of(c, &format!("{month}&dimension=source"), plan)),
        ),
        (
            "breakdown page, 30 days",
            Box::new(move |c, plan| breakdown_of(c, &format!("{month}&dimension=page"), plan)),
        ),
        (
            "summary endpoint, 30 days, one filter",
            Box::new(move |c, p| {
                let request = summary::SummaryRequest::parse(Some(&format!(
                    "{month}&channel=Organic%20Search"
                )))?;
                summary::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            // The people half of the above alone (its day rows per value, or raw).
            "visitors + sessions, 30 days, one filter",
            Box::new(move |c, p| {
                let request = summary::SummaryRequest::parse(Some(&format!(
                    "{month}&channel=Organic%20Search"
                )))?;
                let filters = request.filters.selection();
                let segment = Segment::new(c, &filters);
                let (store, plan) = narrowed_for_people(c, &filters, &segment, p);
                people::people(store, &request.scope.filter(), None, plan)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "funnel by sessions, 30 days, one filter",
            Box::new(move |c, p| {
                let request = funnel::FunnelRequest::parse(Some(&format!(
                    "{month}&by=sessions&channel=Organic%20Search"
                )))?;
                funnel::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "summary endpoint, 30 days, three filters",
            Box::new(move |c, p| {
                let request = summary::SummaryRequest::parse(Some(&format!(
                    "{month}&channel=Organic%20Search&device=mobile&country=DE"
                )))?;
                summary::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
        (
            "timeseries endpoint, day, 30 days (+ visitors)",
            Box::new(move |c, p| {
                let request = timeseries::TimeseriesRequest::parse(Some(month))?;
                timeseries::compute(c, &request, p)
                    .map(drop)
                    .map_err(anyhow::Error::from)
            }),
        ),
    ];

    println!(
        "| question | rollup p50 | rollup p95 | raw p50 | raw p95 | raw/rollup (p50) |\n|---|---:|---:|---:|---:|---:|"
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, question) in questions.iter().filter(|(name, _)| name.contains(&only)) {
        let rolled = time(runs, || question(connection, Plan::Rollup))?;
        if raw_runs == 0 {
            // BENCH_RAW_RUNS=0: the rollups only (a raw scan of 10M events takes seconds).
            println!(
                "| {name} | {} | {} | – | – | – |",
                ms(rolled.0),
                ms(rolled.1)
            );
            continue;
        }
        let raw = time(raw_runs, || question(connection, Plan::Raw))?;
        println!(
            "| {name} | {} | {} | {} | {} | {:.1}× |",
            ms(rolled.0),
            ms(rolled.1),
            ms(raw.0),
            ms(raw.1),
            raw.0.as_secs_f64() / rolled.0.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

fn summary_sums(connection: &dyn ReadBackend, query: &str, plan: Plan) -> anyhow::Result<()> {
    let request = summary::SummaryRequest::parse(Some(query))?;
    let filter = request.scope.filter();
    read::totals(connection, &filter, plan)?;
    read::sums_by_value(connection, &filter, Dimension::Currency, None, plan)?;
    Ok(())
}

fn breakdown_of(connection: &dyn ReadBackend, query: &str, plan: Plan) -> anyhow::Result<()> {
    let request = breakdown::BreakdownRequest::parse(Some(query))?;
    breakdown::compute(connection, &request, plan)
        .map(drop)
        .map_err(anyhow::Error::from)
}

fn series_sums(connection: &dyn ReadBackend, query: &str, plan: Plan) -> anyhow::Result<()> {
    let request = timeseries::TimeseriesRequest::parse(Some(query))?;
    timeseries::sums(connection, &request, plan)
        .map(drop)
        .map_err(anyhow::Error::from)
}

fn people_pass(connection: &dyn ReadBackend, query: &str, plan: Plan) -> anyhow::Result<()> {
    let request = summary::SummaryRequest::parse(Some(query))?;
    people::people(connection, &request.scope.filter(), None, plan)
        .map(drop)
        .map_err(anyhow::Error::from)
}

/// p50 and p95 of `runs` runs (nearest rank).
fn time(
    runs: usize,
    mut question: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        question()?;
        times.push(started.elapsed());
    }
    times.sort();
    let rank = |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((rank(0.50), rank(0.95)))
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: `{text}` is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// A small deterministic generator (xorshift64*), so every run loads the same data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Skewed towards 0: a power law where the first tenth of the ids gets most of the picks.
    fn skewed(&mut self, n: u64, power: f64) -> u64 {
        ((self.unit().powf(power) * n as f64) as u64).min(n - 1)
    }
}

const CHANNELS: [&str; 10] = [
    "Direct",
    "Organic Search",
    "Paid Search",
    "Organic Social",
    "Paid Social",
    "Email",
    "Referral",
    "Affiliates",
    "Display",
    "Other",
];
const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
const BROWSERS: [&str; 6] = [
    "Chrome",
    "Safari",
    "Firefox",
    "Edge",
    "Samsung Internet",
    "Opera",
];
const SYSTEMS: [&str; 5] = ["Windows", "macOS", "iOS", "Android", "Linux"];

/// Where a session came from, the same for all its events (a session is one browser), with
/// the cardinalities of a real shop: tens of channels and devices, thousands of sources and
/// campaigns, tens of countries.
fn session_traffic(visitor: u64, day: i64) -> Traffic {
    let mut random = Random(
        (visitor.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (day as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
            | 1,
    );
    let channel = CHANNELS[random.skewed(CHANNELS.len() as u64, 1.5) as usize];
    let direct = channel == "Direct";
    Traffic {
        referrer_domain: (!direct).then(|| format!("site-{}.example", random.skewed(3_000, 2.0))),
        source: (!direct).then(|| format!("source-{}", random.skewed(3_000, 2.0))),
        medium: (!direct).then(|| {
            ["cpc", "email", "social", "referral"][random.skewed(4, 1.0) as usize].to_owned()
        }),
        campaign: (random.unit() < 0.4).then(|| format!("campaign-{}", random.skewed(2_000, 2.0))),
        channel: Some(channel.to_owned()),
        device: Some(DEVICES[random.skewed(3, 1.5) as usize].to_owned()),
        browser: Some(BROWSERS[random.skewed(6, 1.5) as usize].to_owned()),
        os: Some(SYSTEMS[random.skewed(5, 1.5) as usize].to_owned()),
        country: Some(format!("C{:02}", random.skewed(60, 2.5)).replace("C00", "DE")),
        is_bot: false,
    }
}

/// Rolls up every ended day (the day rows), as the consumer does in the background.
fn roll_up_days(url: &StoreUrl) -> anyhow::Result<()> {
    let mut writer = url.open_writer(Synchronous::Normal)?;
    let started = Instant::now();
    let mut days = 0;
    while writer
        .roll_up_next_day(Utc::now().timestamp_micros(), Duration::ZERO)?
        .is_some()
    {
        days += 1;
    }
    if days > 0 {
        println!(
            "rolled up {days} days (day rows) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn load(url: &StoreUrl, events: u64, end: DateTime<Utc>) -> anyhow::Result<()> {
    let mut writer = url.open_writer(Synchronous::Normal)?;
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let start = end - TimeDelta::days(DAYS);
    let span_micros = (end - start).num_microseconds().unwrap_or(i64::MAX) as f64;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..events {
        // In time order with jitter, as a consumer would see them.
        let position = (i as f64 + random.unit()) / events as f64;
        let timestamp = start + TimeDelta::microseconds((position * span_micros) as i64);
        let roll = random.unit();
        let event_type = if roll < 0.80 {
            EventType::PageView
        } else if roll < 0.95 {
            EventType::AddToCart
        } else {
            EventType::Purchase
        };
        let visitor = random.skewed(VISITORS, 1.5);
        let day = (timestamp - start).num_days();
        let amount = (event_type == EventType::Purchase)
            .then(|| (500 + random.next() % 50_000) as f64 / 100.0);
        batch.push(Event {
            event_id: format!("{i:012}"),
            event_type,
            timestamp,
            shop_id: format!("shop-{:02}", random.skewed(SHOPS, 2.0)),
            product_id: Some(format!("prod-{:05}", random.skewed(PRODUCTS, 3.0))),
            order_amount: amount,
            session_id: Some(format!("s-{visitor}-{day}")),
            visitor_id: Some(format!("v-{visitor}")),
            path: Some(format!("/page-{}", random.skewed(20_000, 3.0))),
            referrer: None,
            currency: amount.map(|_| if random.unit() < 0.8 { "EUR" } else { "USD" }.to_owned()),
            quantity: None,
            order_id: None,
            sent_at: None,
            received_at: timestamp,
            traffic: session_traffic(visitor, day),
        });
        if batch.len() == BATCH {
            writer.insert_batch(&batch)?;
            batch.clear();
        }
    }
    writer.insert_batch(&batch)?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "loaded {events} events in {elapsed:.1} s ({:.0} events/s) through Writer::insert_batch",
        events as f64 / elapsed
    );
    Ok(())
}
