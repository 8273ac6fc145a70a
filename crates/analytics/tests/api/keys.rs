//! API keys on analytics (docs/SECURITY.md): read keys and their shop scope, keys in URLs, revocation,
//! rate limits, the per-key live-stream cap, and the `analytics keys` commands.

use std::path::Path;
use std::time::Duration;

use analytics::keys_cli::{CreateArgs, KeysCommand};
use clap::Parser;
use events_core::config::RedisArgs;
use events_core::keys::store::KeyStore;
use events_core::keys::{KeyKind, NewKey};
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use test_support::RedisServer;

use crate::helpers::{TestApp, spawn_app_configured};

struct Keyed {
    app: TestApp,
    redis: RedisServer,
    store: KeyStore,
    /// Reads shop `acme` only.
    acme: String,
    acme_id: String,
    /// Reads every shop.
    all: String,
    write: String,
}

async fn create(store: &KeyStore, kind: KeyKind, shop: Option<&str>) -> (String, String) {
    let (key, record) = store
        .create(NewKey {
            kind,
            shop_id: shop.map(str::to_owned),
            origins: Vec::new(),
            allow_purchases: false,
            name: Some("test".into()),
        })
        .await
        .expect("creates a key");
    (key, record.id)
}

/// Analytics with keys on (reloaded every 200 ms), events for `acme` and `globex` stored.
async fn keyed_app_in(dashboard: &Path, extra: &[&str]) -> Keyed {
    let redis = RedisServer::start();
    let store = KeyStore::new(&redis.url(), Duration::from_secs(2)).expect("store");
    let (acme, acme_id) = create(&store, KeyKind::Read, Some("acme")).await;
    let (all, _) = create(&store, KeyKind::Read, None).await;
    let (write, _) = create(&store, KeyKind::Write, Some("acme")).await;
    let url = redis.url();
    let mut args = vec![
        "--auth",
        "keys",
        "--redis-url",
        &url,
        "--keys-refresh",
        "200ms",
    ];
    args.extend_from_slice(extra);
    let app = spawn_app_configured(dashboard, &args, |_| {}).await;
    let event = |shop: &str| json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "shop_id": shop});
    app.store(&[event("acme"), event("globex"), event("globex")]);
    Keyed {
        app,
        redis,
        store,
        acme,
        acme_id,
        all,
        write,
    }
}

async fn keyed_app(extra: &[&str]) -> Keyed {
    keyed_app_in(Path::new("/nonexistent-dashboard"), extra).await
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(key) = key {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    request.send().await.expect("request sent")
}

async fn get_json(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Value) {
    let response = get(app, path, key).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

fn shop_ids(body: &Value) -> Vec<String> {
    body["shops"]
        .as_array()
        .expect("shops")
        .iter()
        .map(|s| s["shop_id"].as_str().expect("shop_id").to_owned())
        .collect()
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
async fn every_api_request_needs_a_key_but_health_and_the_dashboard() {
    let dist = tempfile::tempdir().expect("temp dir");
    std::fs::write(dist.path().join("index.html"), "<html>dashboard</html>").expect("writes");
    let keyed = keyed_app_in(dist.path(), &[]).await;
    let app = &keyed.app;
    for path in [
        "/api/analytics",
        "/api/v1/summary",
        "/api/v1/shops",
        "/api/v1/live",
        "/api/v1/nothing",
        "/metrics",
    ] {
        let response = get(app, path, None).await;
        assert_unauthorized(&response);
        let body: Value = response.json().await.expect("JSON");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let unknown = format!("rk_{}", "y".repeat(43));
    assert_unauthorized(&get(app, "/api/analytics", Some(&unknown)).await);
    for path in ["/api/health", "/api/ready", "/", "/some/page"] {
        assert_eq!(get(app, path, None).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_shop_key_reads_its_shop_only_and_an_all_shops_key_every_shop() {
    let keyed = keyed_app(&[]).await;
    let app = &keyed.app;
    let (status, body) = get_json(app, "/api/v1/shops", Some(&keyed.acme)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(shop_ids(&body), ["acme"]);
    let (_, body) = get_json(app, "/api/v1/shops", Some(&keyed.all)).await;
    assert_eq!(shop_ids(&body), ["acme", "globex"]);

    // Without shop_id, a shop key means its shop.
    let (status, body) = get_json(app, "/api/analytics", Some(&keyed.acme)).await;
    assert_eq!(status, 200);
    assert_eq!(body["total_page_views"], 1);
    let (_, body) = get_json(app, "/api/analytics?shop_id=acme", Some(&keyed.acme)).await;
    assert_eq!(body["total_page_views"], 1);
    let (_, body) = get_json(app, "/api/analytics", Some(&keyed.all)).await;
    assert_eq!(body["total_page_views"], 3);

    let (status, body) = get_json(app, "/api/analytics?shop_id=globex", Some(&keyed.acme)).await;
    assert_eq!(status, 403);
    assert!(body["error"].as_str().expect("error").contains("acme"));
    let (status, _) = get_json(app, "/api/v1/summary?shop_id=globex", Some(&keyed.acme)).await;
    assert_eq!(status, 403);

    // A write key reads nothing.
    let (status, body) = get_json(app, "/api/analytics", Some(&keyed.write)).await;
    assert_eq!(status, 403);
    assert!(body["error"].as_str().expect("error").contains("read key"));
}

#[tokio::test]
async fn a_key_in_the_url_is_taken_on_the_live_stream_only() {
    let keyed = keyed_app(&[]).await;
    let app = &keyed.app;
    let response = get(app, &format!("/api/v1/summary?key={}", keyed.all), None).await;
    assert_unauthorized(&response);
    let response = get(app, &format!("/api/v1/live?key={}", keyed.write), None).await;
    assert_unauthorized(&response);
    let response = get(app, &format!("/api/v1/live?key={}", keyed.acme), None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/event-stream")
    );
    let response = get(
        app,
        &format!("/api/v1/live?shop_id=globex&key={}", keyed.acme),
        None,
    )
    .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_key_holds_at_most_20_live_streams() {
    let keyed = keyed_app(&[]).await;
    let app = &keyed.app;
    let mut open = Vec::new();
    for _ in 0..20 {
        let response = get(app, "/api/v1/live", Some(&keyed.acme)).await;
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    let refused = get(app, "/api/v1/live", Some(&keyed.acme)).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get(RETRY_AFTER).is_some());
    assert_eq!(
        get(app, "/api/v1/live", Some(&keyed.all)).await.status(),
        200,
        "other keys are not affected"
    );
    drop(open.pop());
    test_support::eventually(
        "a closed stream to free its slot",
        Duration::from_secs(10),
        || async {
            let response = get(app, "/api/v1/live", Some(&keyed.acme)).await;
            (response.status() == 200).then_some(response)
        },
    )
    .await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_10_seconds_and_redis_away_changes_nothing() {
    let mut keyed = keyed_app(&[]).await;
    let app = &keyed.app;
    assert_eq!(
        get(app, "/api/analytics", Some(&keyed.acme)).await.status(),
        200
    );
    let mut live = get(app, "/api/v1/live", Some(&keyed.acme)).await;
    assert_eq!(live.status(), 200);
    keyed.store.revoke(&keyed.acme_id).await.expect("revokes");
    test_support::eventually(
        "the revocation to reach analytics",
        Duration::from_secs(10),
        || async {
            (get(app, "/api/analytics", Some(&keyed.acme)).await.status() == 401).then_some(())
        },
    )
    .await;
    // An open live stream ends at its next message once its key is revoked.
    app.store(&[
        json!({"event_type": "page_view", "timestamp": "2025-10-02T11:00:00Z", "shop_id": "acme"}),
    ]);
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(_)) = live.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live stream of a revoked key was still open"
    );
    // Redis away: the last good copy of the keys keeps serving.
    keyed.redis.kill();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        get(&keyed.app, "/api/analytics", Some(&keyed.all))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&keyed.app, "/api/analytics", Some(&keyed.acme))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn past_its_rate_a_read_key_gets_429_with_retry_after() {
    let keyed = keyed_app(&["--rate-limit-read", "1"]).await;
    let mut limited = None;
    for _ in 0..6 {
        let response = get(&keyed.app, "/api/health", None).await;
        assert_eq!(response.status(), 200, "health is never limited");
        let response = get(&keyed.app, "/api/analytics", Some(&keyed.all)).await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a 429 after the burst of 2");
    let retry_after: u64 = limited
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let body: Value = limited.json().await.expect("JSON");
    assert!(body["error"].is_string());
}

fn redis_args(redis: &RedisServer) -> RedisArgs {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        redis: RedisArgs,
    }
    Wrapper::parse_from(["test", "--redis-url", &redis.url()]).redis
}

async fn run(command: KeysCommand, redis: &RedisServer) -> anyhow::Result<String> {
    let mut out = Vec::new();
    analytics::keys_cli::run(&command, &redis_args(redis), &mut out).await?;
    Ok(String::from_utf8(out).expect("UTF-8"))
}

fn create_args(kind: KeyKind, shop: Option<&str>) -> CreateArgs {
    CreateArgs {
        kind,
        shop: shop.map(str::to_owned),
        all_shops: shop.is_none(),
        origins: Vec::new(),
        allow_purchases: false,
        name: None,
    }
}

#[tokio::test]
async fn keys_create_prints_the_key_alone_on_its_last_line_and_list_never_does() {
    let redis = RedisServer::start();
    let mut public = create_args(KeyKind::Public, Some("acme"));
    public.origins = vec!["https://acme.example".into()];
    public.allow_purchases = true;
    public.name = Some("storefront".into());
    let out = run(KeysCommand::Create(public), &redis)
        .await
        .expect("creates");
    let key = out.lines().last().expect("a last line").to_owned();
    assert!(key.starts_with("pk_") && key.len() == 46, "{out}");
    let out = run(
        KeysCommand::Create(create_args(KeyKind::Read, None)),
        &redis,
    )
    .await
    .expect("creates");
    let read = out.lines().last().expect("a last line").to_owned();
    assert!(read.starts_with("rk_"));

    let listed = run(KeysCommand::List, &redis).await.expect("lists");
    assert!(!listed.contains(&key) && !listed.contains(&read));
    let records: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    let first = &records[0];
    let mut names: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "allow_purchases",
            "created_at",
            "id",
            "kind",
            "last_used_at",
            "name",
            "origins",
            "revoked",
            "shop_id"
        ]
    );
    let public_record = records
        .iter()
        .find(|r| r["kind"] == "public")
        .expect("the public key");
    assert_eq!(public_record["shop_id"], "acme");
    assert_eq!(public_record["origins"], json!(["https://acme.example"]));
    assert_eq!(public_record["allow_purchases"], true);
    assert_eq!(public_record["name"], "storefront");
    assert_eq!(public_record["revoked"], false);
    let read_record = records
        .iter()
        .find(|r| r["kind"] == "read")
        .expect("the read key");
    assert_eq!(read_record["shop_id"], Value::Null);
    assert_eq!(read_record["origins"], json!([]));

    let id = read_record["id"].as_str().expect("id").to_owned();
    run(KeysCommand::Revoke { id: id.clone() }, &redis)
        .await
        .expect("revokes");
    let listed = run(KeysCommand::List, &redis).await.expect("lists");
    let revoked: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .find(|r| r["id"] == id.as_str())
        .expect("still listed");
    assert_eq!(revoked["revoked"], true);
    assert!(
        run(
            KeysCommand::Revoke {
                id: "key_nope".into()
            },
            &redis
        )
        .await
        .is_err()
    );
    // Refused combinations.
    assert!(
        run(
            KeysCommand::Create(create_args(KeyKind::Write, None)),
            &redis
        )
        .await
        .is_err()
    );
    assert!(
        run(
            KeysCommand::Create(create_args(KeyKind::Public, Some("acme"))),
            &redis
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn the_analytics_binary_creates_lists_and_revokes_keys() {
    let redis = RedisServer::start();
    let analytics = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
            .args(args)
            .env("REDIS_URL", redis.url())
            .output()
            .expect("analytics runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (ok, out) = analytics(&[
        "keys", "create", "--kind", "write", "--shop", "default", "--name", "server",
    ]);
    assert!(ok, "{out}");
    let key = out.lines().last().expect("last line");
    assert!(key.starts_with("sk_"));
    let (ok, listed) = analytics(&["keys", "list"]);
    assert!(ok);
    assert!(!listed.contains(key));
    let record: Value = serde_json::from_str(listed.trim()).expect("one JSON line");
    assert_eq!(record["kind"], "write");
    let id = record["id"].as_str().expect("id");
    let (ok, _) = analytics(&["keys", "revoke", id]);
    assert!(ok);
    let (ok, _) = analytics(&["keys", "revoke", "key_unknown"]);
    assert!(!ok);
    let (ok, _) = analytics(&["keys", "create", "--kind", "write", "--all-shops"]);
    assert!(!ok);
}

#[tokio::test]
async fn the_dashboard_learns_what_its_key_may_read() {
    let keyed = keyed_app(&[]).await;
    let app = &keyed.app;
    let (status, body) = get_json(app, "/api/v1/key", None).await;
    assert_eq!((status, body), (200, json!({"auth": "keys", "key": null})));
    let (status, body) = get_json(app, "/api/v1/key", Some(&keyed.acme)).await;
    assert_eq!(status, 200);
    assert_eq!(body["key"]["kind"], "read");
    assert_eq!(body["key"]["shop_id"], "acme");
    assert_eq!(body["key"]["id"], keyed.acme_id.as_str());
    let (_, body) = get_json(app, "/api/v1/key", Some(&keyed.all)).await;
    assert_eq!(body["key"]["shop_id"], Value::Null);
    let unknown = format!("rk_{}", "z".repeat(43));
    assert_unauthorized(&get(app, "/api/v1/key", Some(&unknown)).await);
    assert_unauthorized(&get(app, &format!("/api/v1/key?key={}", keyed.all), None).await);

    let open = crate::helpers::spawn_app().await;
    let (status, body) = open.get_json("/api/v1/key").await;
    assert_eq!((status, body), (200, json!({"auth": "off"})));
}

#[tokio::test]
async fn bootstrap_makes_the_first_keys_once_and_prints_them_with_a_curl_line() {
    let redis = RedisServer::start();
    let args = analytics::keys_cli::BootstrapArgs {
        shop: "default".into(),
        origins: vec!["http://localhost:3000".into()],
        ingestion_url: "http://localhost:8080".into(),
        analytics_url: "http://localhost:3000".into(),
    };
    let first = run(KeysCommand::Bootstrap(args.clone()), &redis)
        .await
        .expect("bootstraps");
    let keys: Vec<&str> = first
        .split_whitespace()
        .filter(|w| ["sk_", "rk_", "pk_"].iter().any(|p| w.starts_with(p)))
        .collect();
    assert_eq!(
        keys.len(),
        3 + 2,
        "three keys, and two in the curl lines: {first}"
    );
    assert!(first.contains("curl -X POST http://localhost:8080/v1/events"));
    assert!(first.contains("http://localhost:3000/"));
    let listed = run(KeysCommand::List, &redis).await.expect("lists");
    assert_eq!(listed.lines().count(), 3);
    assert!(listed.contains(r#""origins":["http://localhost:3000"]"#));
    let again = run(KeysCommand::Bootstrap(args), &redis)
        .await
        .expect("runs");
    assert_eq!(again, "", "a later start prints nothing");
    assert_eq!(
        run(KeysCommand::List, &redis)
            .await
            .expect("lists")
            .lines()
            .count(),
        3
    );
}

/// The real binary at `RUST_LOG=trace`, asked with keys in headers and in URLs (allowed on the
/// live stream, refused elsewhere): its log holds no key.
#[tokio::test]
async fn a_key_never_appears_in_the_logs_of_a_request() {
    let keyed = keyed_app(&[]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("analytics.log");
    let address = format!("127.0.0.1:{}", test_support::free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .env("REDIS_URL", keyed.redis.url())
        .env("ANALYTICS_ADDR", &address)
        .env(
            "ANALYTICS_METRICS_ADDR",
            format!("127.0.0.1:{}", test_support::free_port()),
        )
        .env("DATABASE_URL", dir.path().join("analytics.db"))
        .env("DASHBOARD_DIR", "/nonexistent-dashboard")
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("analytics starts");
    let base = format!("http://{address}");
    let client = &keyed.app.client;
    test_support::eventually("analytics to be ready", Duration::from_secs(20), || async {
        let response = client.get(format!("{base}/api/ready")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let status = |path: String, key: Option<String>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(key) = key {
            request = request.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        async move { request.send().await.expect("sent").status().as_u16() }
    };
    assert_eq!(
        status("/api/analytics".into(), Some(keyed.acme.clone())).await,
        200
    );
    assert_eq!(
        status(format!("/api/analytics?key={}", keyed.all), None).await,
        401
    );
    assert_eq!(
        status(
            "/api/analytics?shop_id=globex".into(),
            Some(keyed.acme.clone())
        )
        .await,
        403
    );
    let live = client
        .get(format!("{base}/api/v1/live?key={}", keyed.acme))
        .send()
        .await
        .expect("sent");
    assert_eq!(live.status(), 200);
    drop(live);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let logs = std::fs::read_to_string(&log_path).expect("the log");
    assert!(
        logs.contains(r#""uri":"/api/v1/live?shop_id=acme""#),
        "requests are logged: {logs}"
    );
    for key in [&keyed.acme, &keyed.all, &keyed.write] {
        assert!(!logs.contains(key.as_str()), "a key is in the logs: {logs}");
    }
}
