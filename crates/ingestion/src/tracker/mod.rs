//! `GET /t.js`: the tracker a storefront embeds with its public key (docs/API.md, "The
//! tracker"). One small file, served from memory with headers that let browsers and CDNs
//! cache it for an hour and revalidate it cheaply (`ETag`).

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The script, as served.
pub const SCRIPT: &str = include_str!("t.js");

/// A strong validator of [`SCRIPT`]: its hash, so it changes exactly when the script does.
static ETAG: LazyLock<String> = LazyLock::new(|| {
    let hash = Sha256::digest(SCRIPT.as_bytes());
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
});

/// The script, or `304` when the browser already holds this version.
#[utoipa::path(get, path = "/t.js", operation_id = "tracker", tag = "tracker", security(()),
    responses(
        (status = 200, description = "The tracker script (JavaScript, cacheable for an hour)",
            content_type = "text/javascript", body = String),
        (status = 304, description = "The browser's copy (`If-None-Match`) is current"),
    ))]
pub async fn script(headers: HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&ETAG).unwrap_or(HeaderValue::from_static("\"t\""));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == ETAG.as_str()));
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ),
        (header::ETAG, etag),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response()
}
