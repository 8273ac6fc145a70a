//! The analytics service's OpenAPI 3.1 document and the page that renders it for people.
//!
//! The document is not written by hand: the router is built from the annotated handlers
//! (`utoipa_axum::routes!` in [`crate::routes::api`]), so a route and its entry appear and
//! change together; parameters come from the query structs ([`crate::query`]) and bodies from
//! the answer types. This module adds what is shared: the title, the read-key schemes, and the
//! refusals every query can meet. `GET /api/openapi.json` (in [`crate::routes`], which the
//! document is built from) serves it; `GET /api/docs` renders
//! it with Redoc, vendored at a pinned version (`scripts/vendor-redoc.sh`) and embedded in the
//! binary, so the page loads nothing from elsewhere.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use events_core::event::FieldError;
use events_core::http::{ErrorBody, Health};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

/// Where the page's script is served (no key needed, like the page).
pub const DOCS_ASSETS: &str = "/api/docs/assets/";
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

/// The parts of the document that are not a route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop analytics: analytics API",
        description = "Metrics computed from the stored events: every rule is in docs/API.md. \
            With `AUTH=keys` (the default) every `/api/…` request but health, readiness, this \
            document and `/api/docs` needs a read key.",
        license(name = "MIT"),
    ),
    modifiers(&ReadKeys),
    security(("read_key" = [])),
    components(schemas(ErrorBody, FieldError, Health)),
    tags(
        (name = "analytics", description = "Questions about the stored events"),
        (name = "keys", description = "What the dashboard asks first"),
        (name = "service", description = "Health, readiness and this description"),
    )
)]
pub struct ApiDoc;

/// The read key: `Authorization: Bearer rk_…`; on `/api/v1/live` also `?key=rk_…`.
struct ReadKeys;

impl Modify for ReadKeys {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "read_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A read key (`rk_…`) for one shop or all shops (docs/SECURITY.md).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "read_key_in_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "key",
                "The read key as `?key=`, only on `/api/v1/live` (EventSource cannot set headers).",
            ))),
        );
    }
}

/// The refusals any query endpoint can answer, each with the JSON error body.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only described, never built: the answers are `ApiError`'s and the gate's.
pub enum QueryErrors {
    /// A bad parameter: unknown (the known ones are listed), given twice, empty or invalid;
    /// `details` names it.
    #[response(status = 400)]
    BadParameter(ErrorBody),
    /// No key, or an unknown or revoked one (`WWW-Authenticate: Bearer`).
    #[response(status = 401, headers(("WWW-Authenticate" = String)))]
    Unauthorized(ErrorBody),
    /// A key that may not read this: not a read key, or another shop's.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Over `RATE_LIMIT_READ` for this key, or its live streams at their cap.
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    TooManyRequests(ErrorBody),
    /// The store failed; the log says why.
    #[response(status = 500)]
    StoreFailed(ErrorBody),
    /// No query slot within 10 s, `MAX_LIVE_STREAMS` reached, or the keys not read yet.
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Busy(ErrorBody),
}

/// The document as served: compact JSON.
pub fn to_json(document: &Document) -> String {
    document
        .to_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"the document failed: {error}\"}}"))
}

/// The document indented, as `analytics openapi` prints it (and the dashboard's types are
/// generated from).
pub fn to_pretty_json(document: &Document) -> String {
    document
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"the document failed: {error}\"}}"))
}

/// The page: Redoc reads the document from the same origin; the script is served below.
const PAGE: &str = concat!(
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    "<title>Shop analytics API</title></head><body>",
    "<redoc spec-url=\"/api/openapi.json\"></redoc>",
    "<script src=\"/api/docs/assets/redoc.standalone.js\"></script>",
    "</body></html>\n"
);

/// What the page may load: its script from here, the document from here, styles injected by
/// Redoc, images as data URLs; nothing else, and no framing.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /api/docs`: the document rendered for people.
#[utoipa::path(get, path = "/api/docs", operation_id = "docs_page", tag = "service", security(()),
    responses((status = 200, description = "The API reference page", content_type = "text/html", body = String)))]
pub async fn docs_page() -> Response {
    with_page_headers(Html(PAGE).into_response())
}

/// `GET /api/docs/assets/redoc.standalone.js`: Redoc, embedded.
#[utoipa::path(get, path = "/api/docs/assets/redoc.standalone.js", operation_id = "docs_script", tag = "service", security(()),
    responses((status = 200, description = "The page's script (Redoc, vendored)", content_type = "text/javascript", body = String)))]
pub async fn docs_script() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        REDOC_JS,
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    with_page_headers(response)
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
