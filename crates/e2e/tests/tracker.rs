//! The tracker in a real browser (headless Chromium) against the real pipeline: a storefront
//! page loads `/t.js` with a public key allowed to send purchases, navigates twice with
//! `history.pushState` and tracks a purchase; the SQLite file then holds one session with the
//! landing page, the channel of its campaign and the revenue (read from the SQLite file: the
//! export does not carry the channel).
//!
//! Chromium is driven from its command line (`--dump-dom` with a virtual time budget: it runs
//! the page's timers, waits for its network, then exits), so the test needs no Node package.
//! It is skipped, saying so, where `/usr/bin/chromium` is missing.

use std::path::Path;
use std::time::Duration;

use e2e::Pipeline;
use events_core::keys::store::KeyStore;
use events_core::keys::{KeyKind, NewKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHROMIUM: &str = "/usr/bin/chromium";
const SHOP: &str = "tracked";
/// A desktop Chrome's user agent: headless Chromium's own says `HeadlessChrome`, a bot.
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// Waits until ingestion knows the public key (its preflight names the origin).
async fn key_is_known(pipeline: &Pipeline, origin: &str) {
    test_support::eventually(
        "ingestion to know the key",
        Duration::from_secs(10),
        || async {
            let response = pipeline
                .client
                .request(
                    reqwest::Method::OPTIONS,
                    format!("{}/v1/events", pipeline.ingestion),
                )
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .ok()?;
            response
                .headers()
                .contains_key("access-control-allow-origin")
                .then_some(())
        },
    )
    .await;
}

/// The stored events of the shop: (type, path, session, visitor, channel, source, amount,
/// device, is_bot), in time order.
type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
    bool,
);

fn stored(db: &Path) -> Vec<Row> {
    let Ok(connection) = rusqlite::Connection::open(db) else {
        return Vec::new();
    };
    let Ok(mut statement) = connection.prepare(
        "SELECT event_type, path, session_id, visitor_id, channel, source, order_amount, device, is_bot
         FROM events WHERE shop_id = ?1 ORDER BY ts_micros, id",
    ) else {
        return Vec::new();
    };
    statement
        .query_map([SHOP], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            ))
        })
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tracked_visit_is_stored_as_one_session_with_its_landing_page_channel_and_revenue() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("skipped: {CHROMIUM} is not installed");
        return;
    }
    let pipeline =
        Pipeline::start_with("200ms", &["--auth", "keys", "--keys-refresh", "200ms"]).await;
    // The page: the tracker, then two client-side navigations and a purchase.
    let page = format!(
        r#"<!doctype html><html><head><title>Shop</title>
<script defer src="{ingestion}/t.js" data-key="KEY"></script></head>
<body><script>
window.addEventListener('load', function () {{
  setTimeout(function () {{ history.pushState({{}}, '', '/products/red-shoes?color=red'); }}, 200);
  setTimeout(function () {{ history.pushState({{}}, '', '/checkout'); }}, 400);
  setTimeout(function () {{
    analytics.track('purchase', {{order_amount: 59.9, currency: 'EUR', order_id: 'o-1'}});
    document.body.setAttribute('data-done', 'yes');
  }}, 600);
}});
</script></body></html>"#,
        ingestion = pipeline.ingestion
    );
    // The key names the storefront's origin, which is known only once it listens: serve a
    // page whose key is filled in after.
    let key_slot = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let origin = storefront_with_key(page, std::sync::Arc::clone(&key_slot)).await;
    let store = KeyStore::new(&pipeline.redis.url(), Duration::from_secs(2)).expect("store");
    let (key, _) = store
        .create(NewKey {
            kind: KeyKind::Public,
            shop_id: Some(SHOP.into()),
            origins: vec![origin.clone()],
            allow_purchases: true,
            name: Some("tracker e2e".into()),
        })
        .await
        .expect("a public key");
    *key_slot.lock().expect("lock") = key;
    key_is_known(&pipeline, &origin).await;

    let profile = tempfile::tempdir().expect("a profile folder");
    let landing = format!("{origin}/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring");
    // Not std's blocking Command: the services of this test answer the browser on this runtime.
    let browser = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--user-agent={CHROME}"),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &landing,
        ])
        .kill_on_drop(true)
        .output();
    let browser = tokio::time::timeout(Duration::from_secs(60), browser)
        .await
        .expect("chromium finishes within a minute")
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&browser.stdout);
    assert!(
        dom.contains("data-done=\"yes\""),
        "the page ran its script: {dom}"
    );

    test_support::eventually("four stored events", Duration::from_secs(20), || async {
        let rows = stored(&pipeline.db);
        (rows.len() >= 4).then_some(())
    })
    .await;
    // Give a fifth, wrong event (a repeated page view) the time to show before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = stored(&pipeline.db);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let types: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(types, ["page_view", "page_view", "page_view", "purchase"]);
    let paths: Vec<Option<&str>> = rows.iter().map(|r| r.1.as_deref()).collect();
    assert_eq!(
        paths,
        [
            Some("/landing"),
            Some("/products/red-shoes"),
            Some("/checkout"),
            Some("/checkout")
        ],
        "paths without query strings"
    );
    let session = rows[0].2.clone();
    assert!(session.is_some(), "a session was assigned");
    assert!(rows.iter().all(|r| r.2 == session), "one session: {rows:?}");
    assert!(
        rows.iter().all(|r| r.3 == rows[0].3 && r.3.is_some()),
        "one visitor"
    );
    assert_eq!(
        rows[0].4.as_deref(),
        Some("Paid Search"),
        "the landing page's channel"
    );
    assert_eq!(rows[0].5.as_deref(), Some("Google"));
    assert_eq!(rows[3].6, Some(59.9), "the revenue");
    assert_eq!(
        rows[1].4.as_deref(),
        Some("Direct"),
        "a same-site navigation"
    );
    assert!(
        rows.iter()
            .all(|r| r.7.as_deref() == Some("desktop") && !r.8)
    );
}

/// Serves `page` for every path on a free port (the storefront), with `KEY` replaced by the
/// key once it is made; returns its origin.
async fn storefront_with_key(
    page: String,
    key: std::sync::Arc<std::sync::Mutex<String>>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let key = key.lock().map(|k| k.clone()).unwrap_or_default();
            let page = page.replace("KEY", &key);
            tokio::spawn(async move {
                let mut request = vec![0; 8192];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    origin
}
