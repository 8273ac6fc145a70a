//! The OpenAPI document against the router it was derived from: every documented operation is
//! served, the served document is the one `analytics openapi` prints, and `/api/docs` renders
//! it from the binary's own assets.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let (status, document) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let expected = serde_json::to_value(analytics::routes::document()).expect("json");
    assert_eq!(document, expected, "served = printed");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{:?}", paths.keys());
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            assert_eq!(method, "get", "analytics only reads: {method} {path}");
            let response = app.get(path).await;
            let status = response.status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{path} is documented but answers {status}"
            );
            let documented = &operations[method]["responses"][status.to_string()];
            assert!(
                documented.is_object(),
                "{path} answers {status}, which its entry does not list"
            );
        }
    }
}

#[tokio::test]
async fn every_query_parameter_the_endpoints_take_is_documented() {
    let app = spawn_app().await;
    let (_, document) = app.get_json("/api/openapi.json").await;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        let documented: Vec<&str> = operations["get"]["parameters"]
            .as_array()
            .map(|list| list.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        if documented.is_empty() {
            continue;
        }
        // An unknown parameter is refused with the list of known ones: the same list.
        let (status, body) = app.get_json(&format!("{path}?no_such_parameter=1")).await;
        assert_eq!(status, 400, "{path}");
        let message = body["details"][0]["message"].as_str().expect("message");
        assert_eq!(
            message,
            format!("is not a parameter here (known: {})", documented.join(", ")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_reference_page_loads_only_its_own_assets() {
    let app = spawn_app().await;
    let page = app.get("/api/docs").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("text");
    assert!(html.contains("spec-url=\"/api/openapi.json\""));
    for src in html.split("src=\"").skip(1) {
        let src = src.split('"').next().expect("quoted");
        assert!(
            src.starts_with("/api/docs/"),
            "the page loads {src} from elsewhere"
        );
        let script = app.get(src).await;
        assert_eq!(script.status(), 200, "{src}");
        assert!(
            script.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/javascript")
        );
        let body = script.text().await.expect("text");
        assert!(body.len() > 100_000, "the embedded Redoc bundle");
        assert!(
            !body.contains("cdn.redoc.ly"),
            "the page would load its logo from a CDN"
        );
        assert!(
            !body.contains("\n//# sourceMappingURL="),
            "no map is shipped, so none is pointed at"
        );
    }
}

#[tokio::test]
async fn key_answers_off_without_keys() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/key").await;
    assert_eq!((status, body), (200, serde_json::json!({"auth": "off"})));
}
