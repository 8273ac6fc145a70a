//! API keys on ingestion (docs/SECURITY.md): who may send events, for which shop, from where, how often.

use std::time::Duration;

use events_core::keys::store::KeyStore;
use events_core::keys::{KeyKind, NewKey};
use reqwest::header::{AUTHORIZATION, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use test_support::RedisServer;

use crate::helpers::{TestApp, spawn_app_with_args};

const SHOP: &str = "acme";
const ORIGIN_OK: &str = "https://acme.example";

/// The keys of a test, all for shop `acme`.
struct Keys {
    store: KeyStore,
    write: String,
    write_id: String,
    public: String,
    public_buyer: String,
    read: String,
}

async fn create(
    store: &KeyStore,
    kind: KeyKind,
    origins: &[&str],
    purchases: bool,
) -> (String, String) {
    let (key, record) = store
        .create(NewKey {
            kind,
            shop_id: Some(SHOP.into()),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_purchases: purchases,
            name: None,
        })
        .await
        .expect("creates a key");
    (key, record.id)
}

/// Ingestion with keys on (reloaded every 200 ms) and a key of each kind.
async fn keyed_app(extra: &[&str]) -> (TestApp, Keys) {
    let redis = RedisServer::start();
    let store = KeyStore::new(&redis.url(), Duration::from_secs(2)).expect("store");
    let (write, write_id) = create(&store, KeyKind::Write, &[], false).await;
    let (public, _) = create(&store, KeyKind::Public, &[ORIGIN_OK], false).await;
    let (public_buyer, _) = create(&store, KeyKind::Public, &[ORIGIN_OK], true).await;
    let (read, _) = create(&store, KeyKind::Read, &[], false).await;
    let mut args = vec!["--auth", "keys", "--keys-refresh", "200ms"];
    args.extend_from_slice(extra);
    let app = spawn_app_with_args(redis, &args).await;
    let keys = Keys {
        store,
        write,
        write_id,
        public,
        public_buyer,
        read,
    };
    (app, keys)
}

fn page_view() -> Value {
    json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z"})
}

fn with_shop(mut event: Value, shop: &str) -> Value {
    event["shop_id"] = json!(shop);
    event
}

fn purchase() -> Value {
    json!({"event_type": "purchase", "timestamp": "2025-10-02T10:30:00Z", "order_amount": 10})
}

/// POSTs JSON with optional `Authorization: Bearer` and `Origin`.
async fn post(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    origin: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    request.send().await.expect("request sent")
}

async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("a JSON body");
    body["error"].as_str().expect("an error message").to_owned()
}

fn assert_unauthorized(response: &reqwest::Response) {
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "challenge: {challenge:?}");
}

#[tokio::test]
async fn a_missing_unknown_or_malformed_key_is_401_with_a_bearer_challenge() {
    let (app, _keys) = keyed_app(&[]).await;
    let sk_unknown = format!("sk_{}", "x".repeat(43));
    for key in [None, Some(sk_unknown.as_str()), Some("not-a-key")] {
        let response = post(&app, "/v1/events", key, None, &page_view()).await;
        assert_unauthorized(&response);
        assert!(!error_of(response).await.is_empty());
    }
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .header("content-type", "application/json")
        .header(AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(page_view().to_string())
        .send()
        .await
        .expect("sent");
    assert_unauthorized(&response);
    assert!(app.stream_events().is_empty());
    // Health and readiness need no key.
    assert_eq!(app.get("/v1/health").await.status(), 200);
    assert_eq!(app.get("/v1/ready").await.status(), 200);
}

/// Ingestion has no store here at all: keys reach it from Redis alone.
#[tokio::test]
async fn a_write_key_stamps_its_shop_and_refuses_other_shops() {
    let (app, keys) = keyed_app(&[]).await;
    let key = Some(keys.write.as_str());
    assert_eq!(
        post(&app, "/v1/events", key, None, &page_view())
            .await
            .status(),
        202
    );
    assert_eq!(
        post(&app, "/v1/events", key, None, &with_shop(page_view(), SHOP))
            .await
            .status(),
        202
    );
    assert_eq!(
        post(&app, "/v1/events", key, None, &purchase())
            .await
            .status(),
        202
    );
    for other in ["globex", "default"] {
        let response = post(
            &app,
            "/v1/events",
            key,
            None,
            &with_shop(page_view(), other),
        )
        .await;
        assert_eq!(response.status(), 403, "shop {other}");
        assert!(error_of(response).await.contains(SHOP));
    }
    let shops: Vec<Value> = app
        .stream_events()
        .iter()
        .map(|e| e["shop_id"].clone())
        .collect();
    assert_eq!(shops, [json!(SHOP), json!(SHOP), json!(SHOP)]);
}

#[tokio::test]
async fn a_write_or_read_key_in_a_url_is_401_and_a_read_key_may_not_send() {
    let (app, keys) = keyed_app(&[]).await;
    for key in [&keys.write, &keys.read] {
        let path = format!("/v1/events?key={key}");
        assert_unauthorized(&post(&app, &path, None, None, &page_view()).await);
    }
    let response = post(&app, "/v1/events", Some(&keys.read), None, &page_view()).await;
    assert_eq!(response.status(), 403);
    assert!(error_of(response).await.contains("read key"));
    assert!(app.stream_events().is_empty());
}

#[tokio::test]
async fn a_public_key_may_travel_in_the_url_from_its_own_origins() {
    let (app, keys) = keyed_app(&[]).await;
    let in_url = format!("/v1/events?key={}", keys.public);
    // `sendBeacon` sends text/plain with the key in the URL.
    let response = app
        .client
        .post(format!("{}{in_url}", app.address))
        .header("content-type", "text/plain;charset=UTF-8")
        .header(ORIGIN, ORIGIN_OK)
        .body(page_view().to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    assert_eq!(
        post(
            &app,
            "/v1/events",
            Some(&keys.public),
            Some(ORIGIN_OK),
            &page_view()
        )
        .await
        .status(),
        202
    );
    assert_eq!(
        post(&app, &in_url, None, None, &page_view()).await.status(),
        202,
        "no Origin: a server"
    );

    let response = post(
        &app,
        &in_url,
        None,
        Some("https://evil.example"),
        &page_view(),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert!(error_of(response).await.contains("origin"));

    // Purchases only with --allow-purchases.
    let response = post(&app, &in_url, None, Some(ORIGIN_OK), &purchase()).await;
    assert_eq!(response.status(), 403);
    assert!(error_of(response).await.contains("purchases"));
    let buyer = format!("/v1/events?key={}", keys.public_buyer);
    assert_eq!(
        post(&app, &buyer, None, Some(ORIGIN_OK), &purchase())
            .await
            .status(),
        202
    );
    assert_eq!(app.stream_events().len(), 4);
}

#[tokio::test]
async fn a_batch_refuses_out_of_scope_events_one_by_one_and_whole_when_all_are() {
    let (app, keys) = keyed_app(&[]).await;
    let key = Some(keys.write.as_str());
    let batch = json!({"events": [
        page_view(),
        with_shop(page_view(), SHOP),
        with_shop(page_view(), "globex"),
        {"event_type": "page_view"},
    ]});
    let response = post(&app, "/v1/events/batch", key, None, &batch).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<u64> = body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(rejected, [2, 3]);
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .expect("error")
            .contains(SHOP)
    );
    let stored = app.stream_events();
    let shops: Vec<Value> = stored.iter().map(|e| e["shop_id"].clone()).collect();
    assert_eq!(shops, [json!(SHOP), json!(SHOP)]);
    // `event_ids` lists the events stored, not those refused for the key's scope.
    let ids: Vec<Value> = stored.iter().map(|e| e["event_id"].clone()).collect();
    assert_eq!(body["event_ids"], json!(ids));

    let all_out =
        json!({"events": [with_shop(page_view(), "globex"), with_shop(page_view(), "initech")]});
    let response = post(&app, "/v1/events/batch", key, None, &all_out).await;
    assert_eq!(response.status(), 403);
    assert!(!error_of(response).await.is_empty());
    assert_eq!(app.stream_events().len(), 2);
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_10_seconds_and_a_new_one_accepted() {
    let (app, keys) = keyed_app(&[]).await;
    assert_eq!(
        post(&app, "/v1/events", Some(&keys.write), None, &page_view())
            .await
            .status(),
        202
    );
    keys.store.revoke(&keys.write_id).await.expect("revokes");
    let (fresh, fresh_id) = create(&keys.store, KeyKind::Write, &[], false).await;
    test_support::eventually(
        "the revocation to reach ingestion",
        Duration::from_secs(10),
        || async {
            let status = post(&app, "/v1/events", Some(&keys.write), None, &page_view())
                .await
                .status();
            (status == 401).then_some(())
        },
    )
    .await;
    test_support::eventually(
        "the new key to reach ingestion",
        Duration::from_secs(10),
        || async {
            let status = post(&app, "/v1/events", Some(&fresh), None, &page_view())
                .await
                .status();
            (status == 202).then_some(())
        },
    )
    .await;
    // Its last use is recorded, off the request path.
    test_support::eventually(
        "the last use to be recorded",
        Duration::from_secs(10),
        || async {
            let listed = keys.store.list().await.ok()?;
            listed
                .iter()
                .any(|k| k.id == fresh_id && k.last_used_at.is_some() && !k.revoked)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn past_its_rate_a_key_or_an_address_without_one_gets_429_with_retry_after() {
    let (app, keys) = keyed_app(&["--rate-limit-write", "1", "--rate-limit-anon", "1"]).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(post(&app, "/v1/events", Some(&keys.write), None, &page_view()).await);
    }
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a 429 after the burst");
    let retry_after: u64 = limited
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    assert!(!error_of(limited).await.is_empty());

    let mut anonymous = Vec::new();
    for _ in 0..5 {
        anonymous.push(
            post(&app, "/v1/events", None, None, &page_view())
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(anonymous[0], 401);
    assert!(anonymous.contains(&429), "{anonymous:?}");
}

#[tokio::test]
async fn preflight_is_answered_for_the_origins_of_public_keys_only() {
    let (app, _keys) = keyed_app(&[]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/events", app.address),
            )
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let response = preflight(ORIGIN_OK).await.expect("sent");
    assert!(response.status().is_success());
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(ORIGIN_OK)
    );
    let allowed_headers = response
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("authorization"));
    let response = preflight("https://evil.example").await.expect("sent");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// The real binary, logging everything it can (`RUST_LOG=trace`), sees keys in headers and
/// URLs, good and bad; its log holds neither a key nor the client's address.
#[tokio::test]
async fn a_key_never_appears_in_the_logs_of_a_request() {
    let (app, keys) = keyed_app(&[]).await;
    let redis_url = app.redis.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("ingestion.log");
    let address = format!("127.0.0.1:{}", test_support::free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingestion"))
        .env("REDIS_URL", &redis_url)
        .env("INGESTION_ADDR", &address)
        .env(
            "INGESTION_METRICS_ADDR",
            format!("127.0.0.1:{}", test_support::free_port()),
        )
        .env("AUTH", "keys")
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("ingestion starts");
    let base = format!("http://{address}");
    test_support::eventually("ingestion to answer", Duration::from_secs(20), || async {
        app.client
            .get(format!("{base}/v1/health"))
            .send()
            .await
            .ok()
            .map(drop)
    })
    .await;
    let send = |path: String, key: Option<String>, origin: Option<&'static str>| {
        let mut request = app
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(page_view().to_string());
        if let Some(key) = key {
            request = request.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        async move { request.send().await.expect("sent").status().as_u16() }
    };
    let public_in_url = format!("/v1/events?key={}", keys.public);
    assert_eq!(
        send(public_in_url.clone(), None, Some(ORIGIN_OK)).await,
        202
    );
    assert_eq!(
        send(public_in_url, None, Some("https://evil.example")).await,
        403
    );
    assert_eq!(
        send("/v1/events".into(), Some(keys.write.clone()), None).await,
        202
    );
    assert_eq!(
        send(format!("/v1/events?key={}", keys.write), None, None).await,
        401
    );
    assert_eq!(
        send("/v1/events".into(), Some(keys.read.clone()), None).await,
        403
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let logs = std::fs::read_to_string(&log_path).expect("the log");
    assert!(
        logs.contains("\"uri\":\"/v1/events\""),
        "requests are logged: {logs}"
    );
    for key in [&keys.public, &keys.write, &keys.read] {
        assert!(!logs.contains(key.as_str()), "a key is in the logs: {logs}");
    }
    // The service's own addresses (the public port, the metrics listener) are announced at start.
    let with_address: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.contains("127.0.0.1")
                && !l.contains("ingestion listening")
                && !l.contains("metrics listener")
        })
        .collect();
    assert!(
        with_address.is_empty(),
        "an address is in the logs: {with_address:?}"
    );
}

/// The per-address limit for bad keys counts each client behind a trusted proxy on its own,
/// and believes `X-Forwarded-For` from no one else.
#[tokio::test]
async fn x_forwarded_for_picks_the_bucket_only_from_trusted_proxies() {
    let anonymous = |app: &TestApp, client: &'static str| {
        app.client
            .post(format!("{}/v1/events", app.address))
            .header("content-type", "application/json")
            .header("x-forwarded-for", client)
            .body(page_view().to_string())
            .send()
    };
    let (behind_proxy, _keys) = keyed_app(&[
        "--rate-limit-anon",
        "1",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await;
    let first = anonymous(&behind_proxy, "203.0.113.1").await.expect("sent");
    assert_eq!(first.status(), 401);
    let other_client = anonymous(&behind_proxy, "203.0.113.2").await.expect("sent");
    assert_eq!(
        other_client.status(),
        401,
        "another client behind the proxy has its own bucket"
    );
    let mut again = Vec::new();
    for _ in 0..3 {
        again.push(
            anonymous(&behind_proxy, "203.0.113.1")
                .await
                .expect("sent")
                .status()
                .as_u16(),
        );
    }
    assert!(again.contains(&429), "{again:?}");

    let (direct, _keys) = keyed_app(&["--rate-limit-anon", "1"]).await;
    let mut statuses = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        statuses.push(
            anonymous(&direct, client)
                .await
                .expect("sent")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[0], 401);
    assert!(
        statuses.contains(&429),
        "a forged X-Forwarded-For must not pick a fresh bucket: {statuses:?}"
    );
}
