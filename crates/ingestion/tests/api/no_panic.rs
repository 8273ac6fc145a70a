//! Whatever arrives over HTTP, ingestion answers 202 or a 4xx with a JSON error: never a
//! panic, never a 5xx (Redis is up).

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::spawn_app;

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        ".{0,200}".prop_map(String::into_bytes),
        (
            prop::sample::select(vec!["page_view", "purchase", "add_to_cart", "x"]),
            ".{0,20}",
            prop::option::of(any::<f64>().prop_map(|f| f.to_string())),
        )
            .prop_map(|(event_type, product, amount)| {
                let amount = amount.map(|a| format!(r#","order_amount":{a}"#)).unwrap_or_default();
                format!(
                    r#"{{"event_type":"{event_type}","timestamp":"2025-10-02T10:30:00Z","product_id":{}{amount}}}"#,
                    serde_json::to_string(&product).unwrap_or_default()
                )
                .into_bytes()
            }),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "application/json",
        "text/plain;charset=UTF-8",
        "application/xml",
        "APPLICATION/JSON; charset=utf-8",
        "",
    ]))
}

#[test]
fn every_request_gets_202_or_a_4xx_with_a_json_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(spawn_app());
    let router = app.router();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    let strategy = (
        prop::sample::select(vec!["/v1/events", "/v1/events/batch"]),
        content_type(),
        body_bytes(),
    );
    runner
        .run(&strategy, |(path, content_type, body)| {
            let mut request = Request::post(path);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let request = request.body(Body::from(body)).expect("request");
            let (status, json) = runtime.block_on(async {
                let response = router.clone().oneshot(request).await.expect("infallible");
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("body");
                (status, serde_json::from_slice::<Value>(&bytes))
            });
            prop_assert!(
                status == 202 || (400..500).contains(&status),
                "status {}",
                status
            );
            let json = json.map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
            if status != 202 {
                prop_assert!(json["error"].is_string(), "{}", json);
            }
            Ok(())
        })
        .expect("no request breaks ingestion");
}
