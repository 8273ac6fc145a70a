//! Where buyers come from, at ingestion (docs/API.md, "Where buyers come from"): a browser's page view and a backend's
//! purchase forwarding the same shopper end up as one visitor and one session; what is derived
//! is stored, the user agent and IP address never are.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use events_core::keys::store::KeyStore;
use events_core::keys::{KeyKind, NewKey};
use reqwest::header::{AUTHORIZATION, ORIGIN, USER_AGENT};
use serde_json::{Value, json};
use test_support::RedisServer;
use test_support::mmdb::CountryDb;

use crate::helpers::{TestApp, spawn_app_with_args};

const SHOP: &str = "acme";
const STOREFRONT: &str = "https://acme.example";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

struct Setup {
    app: TestApp,
    public: String,
    write: String,
    _geo: tempfile::TempDir,
}

async fn create(store: &KeyStore, kind: KeyKind, purchases: bool) -> String {
    let origins = match kind {
        KeyKind::Public => vec![STOREFRONT.to_owned()],
        _ => Vec::new(),
    };
    store
        .create(NewKey {
            kind,
            shop_id: Some(SHOP.into()),
            origins,
            allow_purchases: purchases,
            name: None,
        })
        .await
        .expect("creates a key")
        .0
}

/// Ingestion with keys and a GeoIP database placing the loopback network (where the
/// test's "browser" connects from) in Germany and 203.0.113.0/24 in France.
async fn setup() -> Setup {
    let redis = RedisServer::start();
    let store = KeyStore::new(&redis.url(), Duration::from_secs(2)).expect("store");
    let public = create(&store, KeyKind::Public, false).await;
    let write = create(&store, KeyKind::Write, false).await;
    let geo = tempfile::tempdir().expect("a folder");
    let db = geo.path().join("country.mmdb");
    let bytes = CountryDb::new()
        .insert("127.0.0.0".parse().expect("ip"), 8, "DE")
        .insert("203.0.113.0".parse().expect("ip"), 24, "FR")
        .build();
    std::fs::write(&db, bytes).expect("written");
    let db = db.to_str().expect("a UTF-8 path").to_owned();
    let app = spawn_app_with_args(
        redis,
        &[
            "--auth",
            "keys",
            "--keys-refresh",
            "200ms",
            "--geoip-db",
            &db,
        ],
    )
    .await;
    Setup {
        app,
        public,
        write,
        _geo: geo,
    }
}

fn now() -> String {
    Utc::now().to_rfc3339()
}

async fn from_browser(setup: &Setup, body: &Value) -> reqwest::Response {
    setup
        .app
        .client
        .post(format!(
            "{}/v1/events?key={}",
            setup.app.address, setup.public
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .header(ORIGIN, STOREFRONT)
        .header(USER_AGENT, CHROME)
        .body(body.to_string())
        .send()
        .await
        .expect("sent")
}

async fn from_backend(setup: &Setup, path: &str, body: &Value) -> reqwest::Response {
    setup
        .app
        .client
        .post(format!("{}{path}", setup.app.address))
        .header("content-type", "application/json")
        .header(AUTHORIZATION, format!("Bearer {}", setup.write))
        .header(USER_AGENT, "shop-backend/1.0")
        .body(body.to_string())
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn a_trackers_page_view_and_a_backends_purchase_share_visitor_and_session() {
    let setup = setup().await;
    // The browser's body claims another user agent and address: a public key's request
    // uses the header and the connection's address instead.
    let page_view = json!({"event_type": "page_view", "timestamp": now(),
        "url": "https://acme.example/shoes/red?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&token=secret",
        "referrer": "https://mail.example.net/inbox?id=42",
        "user_agent": "Googlebot/2.1", "ip": "203.0.113.9"});
    assert_eq!(from_browser(&setup, &page_view).await.status(), 202);
    let purchase = json!({"event_type": "purchase", "timestamp": now(), "order_amount": 59.9,
        "currency": "EUR", "order_id": "o-1", "ip": "127.0.0.1", "user_agent": CHROME});
    assert_eq!(
        from_backend(&setup, "/v1/events", &purchase).await.status(),
        202
    );

    let stored = setup.app.stream_events();
    assert_eq!(stored.len(), 2);
    let (view, bought) = (&stored[0], &stored[1]);
    assert!(view["visitor_id"].is_string(), "{view}");
    assert_eq!(view["visitor_id"], bought["visitor_id"]);
    assert!(view["session_id"].is_string(), "{view}");
    assert_eq!(view["session_id"], bought["session_id"]);
    assert_eq!(view["path"], "/shoes/red");
    assert_eq!(view["referrer"], "https://mail.example.net/inbox");
    let traffic = &view["traffic"];
    assert_eq!(traffic["channel"], "Email");
    assert_eq!(traffic["source"], "Newsletter");
    assert_eq!(traffic["medium"], "email");
    assert_eq!(traffic["campaign"], "spring");
    assert_eq!(traffic["referrer_domain"], "mail.example.net");
    assert_eq!(traffic["device"], "desktop");
    assert_eq!(traffic["browser"], "Chrome");
    assert_eq!(traffic["os"], "Windows");
    assert_eq!(
        traffic["country"], "DE",
        "from the connection, not the body"
    );
    assert!(traffic.get("is_bot").is_none(), "not a bot: {traffic}");
    assert_eq!(bought["traffic"]["country"], "DE");
    assert_eq!(bought["traffic"]["browser"], "Chrome");
    for event in &stored {
        let text = event.to_string();
        for private in [
            "127.0.0.1",
            "203.0.113.9",
            "Mozilla",
            "Googlebot",
            "secret",
            "id=42",
        ] {
            assert!(!text.contains(private), "{private} stored: {text}");
        }
    }
    // The day's salt is in Redis, for at most 48 hours.
    let mut redis = setup.app.redis.connection();
    let key = format!("analytics:salt:{}", Utc::now().date_naive());
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut redis).expect("TTL");
    assert!((47 * 3600..=48 * 3600).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn sessions_end_after_30_quiet_minutes_and_ids_sent_are_kept() {
    let setup = setup().await;
    let start = Utc::now() - TimeDelta::hours(3);
    let at = |minutes: i64| (start + TimeDelta::minutes(minutes)).to_rfc3339();
    let shopper = |minutes: i64| {
        json!({"event_type": "page_view", "timestamp": at(minutes), "ip": "203.0.113.20",
            "user_agent": CHROME, "url": "https://acme.example/"})
    };
    // One batch, out of order: 0, 20, 45 (25 after 20: same session), 80 (35 after 45: new).
    let batch = json!({"events": [shopper(45), shopper(0), shopper(80), shopper(20),
        {"event_type": "page_view", "timestamp": at(1), "session_id": "mine", "ip": "203.0.113.20", "user_agent": CHROME},
        {"event_type": "page_view", "timestamp": at(2), "visitor_id": "known-v"},
        {"event_type": "page_view", "timestamp": at(3)}]});
    let response = from_backend(&setup, "/v1/events/batch", &batch).await;
    assert_eq!(response.status(), 202);
    let stored = setup.app.stream_events();
    let session = |i: usize| {
        stored[i]["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(session(0), session(1), "45 and 0 are linked through 20");
    assert_eq!(session(1), session(3));
    assert_ne!(
        session(2),
        session(0),
        "35 quiet minutes start a new session"
    );
    assert_eq!(stored[0]["visitor_id"], stored[2]["visitor_id"]);
    assert_eq!(session(4), "mine", "a session sent is kept");
    assert_eq!(stored[4]["visitor_id"], stored[0]["visitor_id"]);
    assert_eq!(stored[5]["visitor_id"], "known-v");
    assert!(
        stored[5]["session_id"].is_string(),
        "a known visitor gets a session"
    );
    assert!(
        stored[6].get("visitor_id").is_none(),
        "nothing to tell the shopper by"
    );
    assert!(stored[6].get("session_id").is_none());
    assert_eq!(stored[0]["traffic"]["country"], "FR");
    assert_eq!(stored[0]["traffic"]["channel"], "Direct");

    // A later request joins the open session.
    let later = json!({"event_type": "add_to_cart", "timestamp": at(100), "ip": "203.0.113.20",
        "user_agent": CHROME});
    assert_eq!(
        from_backend(&setup, "/v1/events", &later).await.status(),
        202
    );
    let stored = setup.app.stream_events();
    assert_eq!(stored[7]["session_id"], stored[2]["session_id"]);
}

#[tokio::test]
async fn a_public_key_without_allow_purchases_may_not_send_one() {
    let setup = setup().await;
    let purchase = json!({"event_type": "purchase", "timestamp": now(), "order_amount": 5});
    let response = from_browser(&setup, &purchase).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("--allow-purchases"),
        "{body}"
    );
}

#[tokio::test]
async fn the_tracker_is_served_small_cacheable_and_without_a_key() {
    let setup = setup().await;
    let response = setup.app.get("/t.js").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/javascript"));
    assert!(header("cache-control").contains("max-age="), "cacheable");
    let etag = header("etag");
    assert!(etag.starts_with('"'), "{etag}");
    let script = response.text().await.expect("text");
    // Under 3 KB before compression, so certainly under 3 KB gzipped.
    assert!(script.len() < 3 * 1024, "{} bytes", script.len());
    for forbidden in [
        "document.cookie",
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "import ",
    ] {
        assert!(!script.contains(forbidden), "{forbidden}");
    }
    for needed in [
        "sendBeacon",
        "pushState",
        "replaceState",
        "popstate",
        "text/plain",
    ] {
        assert!(script.contains(needed), "{needed}");
    }
    let again = setup
        .app
        .client
        .get(format!("{}/t.js", setup.app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
}
