//! What each derivation of attribution costs ingestion per request, and what it adds to memory:
//! the user-agent parse (woothee), the GeoIP lookup (maxminddb, on a synthetic database of
//! GeoLite2-Country's size built here, since none may be downloaded), the Redis visitor and
//! session step (a private redis-server), and the RSS of the ingestion binary after taking
//! events that each carry a user agent and an IP address. Prints numbers; asserts nothing.
//!
//! `cargo build --release -p ingestion && cargo run --release -p ingestion --example
//! derivation_cost [EVENTS]`

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use chrono::Utc;
use events_core::event::{Event, Shopper, new_event_id};
use events_core::transport::LazyConnection;
use ingestion::derive::{agent, geo::Geo};
use ingestion::visits::Visits;
use serde_json::json;
use test_support::RedisServer;
use test_support::mmdb::CountryDb;

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A pseudo-random address (xorshift), so lookups wander over the whole tree.
fn address(state: &mut u64) -> IpAddr {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    IpAddr::V4(Ipv4Addr::from((*state >> 16) as u32))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    println!("RSS at start: {} KiB", rss_kib());

    // User agents.
    let before = rss_kib();
    let _ = agent::parse(AGENTS[0]);
    println!(
        "woothee loaded: +{} KiB RSS",
        rss_kib().saturating_sub(before)
    );
    let calls = 200_000;
    let started = Instant::now();
    for i in 0..calls {
        std::hint::black_box(agent::parse(AGENTS[i % AGENTS.len()]));
    }
    let per = started.elapsed() / calls as u32;
    println!("user-agent parse: {per:?} a call (mean over {calls}, 6 agents)");

    // GeoIP: ~400,000 networks, about GeoLite2-Country's count, written to a file and then
    // opened as ingestion opens GEOIP_DB.
    let geo_dir = tempfile::tempdir()?;
    let geo_path = geo_dir.path().join("country.mmdb");
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut networks = Vec::new();
    {
        let mut db = CountryDb::new();
        let codes = ["DE", "FR", "US", "GB", "JP", "BR", "IN", "NL", "ES", "IT"];
        for i in 0..400_000 {
            let IpAddr::V4(random) = address(&mut state) else {
                continue;
            };
            let network = Ipv4Addr::from(u32::from(random) & 0xFFFF_FF00);
            networks.push(IpAddr::V4(Ipv4Addr::from(u32::from(network) | 7)));
            db = db.insert(IpAddr::V4(network), 24, codes[i % codes.len()]);
        }
        std::fs::write(&geo_path, db.build())?;
    }
    let size = std::fs::metadata(&geo_path)?.len();
    let geo = Geo::open(&geo_path)?;
    println!(
        "GeoIP database: {} KiB file, read whole into memory (ingestion's RSS with and without it below)",
        size / 1024
    );
    let started = Instant::now();
    let mut found = 0;
    for i in 0..calls {
        found += usize::from(geo.country(networks[i % networks.len()]).is_some());
    }
    let per = started.elapsed() / calls as u32;
    println!("GeoIP lookup: {per:?} a call ({found} of {calls} found)");
    drop(geo);

    // Redis: the visitor and session step, one event and 100 a request.
    let redis = RedisServer::start();
    let visits = Visits::new(
        LazyConnection::open(&redis.url(), Duration::from_secs(2))?,
        "analytics:",
    );
    for batch in [1_usize, 100] {
        let requests = if batch == 1 { 5_000 } else { 200 };
        let started = Instant::now();
        for r in 0..requests {
            let mut list: Vec<Event> = (0..batch)
                .map(|_| {
                    Event::from_json(
                        json!({"event_type": "page_view", "timestamp": Utc::now().to_rfc3339()}),
                        Utc::now(),
                        new_event_id,
                    )
                    .map_err(|e| format!("{e:?}"))
                })
                .collect::<Result<_, _>>()?;
            let shoppers: Vec<Shopper> = (0..batch)
                .map(|i| Shopper {
                    user_agent: Some(AGENTS[i % AGENTS.len()].to_owned()),
                    ip: Some(IpAddr::V4(Ipv4Addr::from((r * batch + i) as u32 % 5000))),
                })
                .collect();
            let refs: Vec<&Shopper> = shoppers.iter().collect();
            visits.assign(&mut list, &refs, Utc::now()).await?;
        }
        let per = started.elapsed() / requests as u32;
        println!(
            "Redis visitor+session step: {per:?} a request of {batch} event(s) ({:?} an event)",
            per / batch as u32
        );
    }

    // Ingestion itself, as its own process (INGESTION_BIN, default target/release/ingestion),
    // with GEOIP_DB, taking single events that each carry a user agent and an IP address.
    let binary =
        std::env::var("INGESTION_BIN").unwrap_or_else(|_| "target/release/ingestion".into());
    {
        let port = test_support::free_port();
        let mut bare = std::process::Command::new(&binary)
            .env("REDIS_URL", redis.url())
            .env("INGESTION_ADDR", format!("127.0.0.1:{port}"))
            .env("INGESTION_METRICS_ADDR", "127.0.0.1:0")
            .env("AUTH", "off")
            .env("RUST_LOG", "error")
            .spawn()
            .map_err(|e| format!("{binary}: {e}"))?;
        let client = reqwest::Client::new();
        test_support::eventually("ingestion to listen", Duration::from_secs(20), || async {
            client
                .get(format!("http://127.0.0.1:{port}/v1/health"))
                .send()
                .await
                .ok()
                .map(drop)
        })
        .await;
        let rss = std::fs::read_to_string(format!("/proc/{}/status", bare.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .unwrap_or_default();
        println!("ingestion idle without GEOIP_DB: RSS {rss} KiB");
        bare.kill()?;
        bare.wait()?;
    }
    let port = test_support::free_port();
    let mut child = std::process::Command::new(&binary)
        .env("REDIS_URL", redis.url())
        .env("INGESTION_ADDR", format!("127.0.0.1:{port}"))
        .env("INGESTION_METRICS_ADDR", "127.0.0.1:0")
        .env("AUTH", "off")
        .env("GEOIP_DB", &geo_path)
        .env("RUST_LOG", "error")
        .spawn()
        .map_err(|e| format!("{binary}: {e}"))?;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/events");
    test_support::eventually("ingestion to listen", Duration::from_secs(20), || async {
        client
            .get(format!("http://127.0.0.1:{port}/v1/health"))
            .send()
            .await
            .ok()
            .map(drop)
    })
    .await;
    let status = |pid: u32, field: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    };
    let idle = status(child.id(), "VmRSS:");
    let started = Instant::now();
    for i in 0..events {
        let body = json!({"event_type": "page_view", "timestamp": Utc::now().to_rfc3339(),
            "url": "https://shop.example/p?utm_source=google&utm_medium=cpc",
            "referrer": "https://www.google.com/", "user_agent": AGENTS[i % AGENTS.len()],
            "ip": networks[i % networks.len()].to_string()});
        let response = client.post(&url).json(&body).send().await?;
        if response.status() != 202 {
            return Err(format!("ingestion answered {}", response.status()).into());
        }
    }
    let elapsed = started.elapsed();
    println!(
        "ingestion ({binary}): {events} single events with UA and IP, one client in sequence: {:?} a request; RSS idle {idle} KiB, after {} KiB, peak {} KiB",
        elapsed / events as u32,
        status(child.id(), "VmRSS:"),
        status(child.id(), "VmHWM:")
    );
    child.kill()?;
    child.wait()?;
    Ok(())
}
