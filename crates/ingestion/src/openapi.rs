//! The ingestion service's OpenAPI 3.1 document, served at `GET /v1/openapi.json` (by
//! [`crate::routes`], which it is built from).
//!
//! The router is built from the annotated handlers (`utoipa_axum::routes!` in
//! [`crate::routes::api`]), so a route and its entry appear and change together. The event's
//! rules are checked by hand in `events_core::event` (to list every broken rule, not the
//! first), so its schema is declared here as [`EventBody`]; a test holds its fields to
//! `KNOWN_FIELDS`, so a field added to the validator cannot be missing here.

use events_core::event::FieldError;
use events_core::http::{ErrorBody, Health};
use serde::Serialize;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// The parts of the document that are not a route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shop analytics: ingestion API",
        description = "Takes shop events: every rule is in docs/API.md. With `AUTH=keys` (the \
            default) both `POST` endpoints need a write key or a public key.",
        license(name = "MIT"),
    ),
    modifiers(&WriteKeys),
    security(("write_key" = []), ("public_key_in_query" = [])),
    components(schemas(ErrorBody, FieldError, Health)),
    tags(
        (name = "events", description = "Sending events"),
        (name = "service", description = "Health, readiness and this description"),
    )
)]
pub struct ApiDoc;

/// A write key (`sk_`) or a public key (`pk_`) as `Authorization: Bearer`; a public key also
/// as `?key=` (`navigator.sendBeacon` cannot set headers).
struct WriteKeys;

impl Modify for WriteKeys {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "write_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A write key (`sk_…`) or a public key (`pk_…`) of one shop (docs/SECURITY.md).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "public_key_in_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "key",
                "A public key (`pk_…`) as `?key=`; a write key in a URL is 401.",
            ))),
        );
    }
}

/// One event as a shop sends it. Unknown fields, a field given twice and control characters
/// in ids and texts are refused; `null` for an optional field means absent.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Only described: events are read by `events_core::event`.
pub struct EventBody {
    #[schema(inline)]
    event_type: EventTypeName,
    /// RFC 3339 with an offset; within `MAX_EVENT_AGE` before arrival and 24 h after it.
    #[schema(format = DateTime)]
    timestamp: String,
    /// Required for `purchase`: from 0 to 1000000000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    order_amount: Option<f64>,
    /// Your idempotency key: the same `event_id` in one shop is stored once. Absent: a UUIDv7.
    #[schema(min_length = 1, max_length = 64)]
    event_id: Option<String>,
    /// Default `default`; with a key, the key's shop.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    shop_id: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    product_id: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    session_id: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    visitor_id: Option<String>,
    #[schema(max_length = 2048)]
    path: Option<String>,
    #[schema(max_length = 2048)]
    referrer: Option<String>,
    /// An ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    #[schema(minimum = 1, maximum = 100_000)]
    quantity: Option<u32>,
    /// A purchase with a `(shop_id, order_id)` already stored is accepted, not stored again.
    #[schema(min_length = 1, max_length = 128)]
    order_id: Option<String>,
    /// The client's clock when it sent the event: the stored time is corrected for its skew.
    #[schema(format = DateTime)]
    sent_at: Option<String>,
    /// The page's full URL (absolute http or https): its `utm_*` parameters fill the `utm_*`
    /// fields the event lacks and its path fills `path`; never stored.
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    utm_source: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    utm_medium: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    utm_campaign: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    utm_term: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    utm_content: Option<String>,
    /// The shopper's browser, forwarded by a server-side sender (ignored with a public key):
    /// device, browser, os and bots are derived from it; never stored.
    #[schema(max_length = 1024)]
    user_agent: Option<String>,
    /// The shopper's IPv4 or IPv6 address, forwarded by a server-side sender (ignored with a
    /// public key): the country and the cookieless visitor id are derived from it; never
    /// stored.
    ip: Option<String>,
}

/// What an event reports.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum EventTypeName {
    PageView,
    AddToCart,
    Purchase,
}

/// `{"events": […]}`: 1 to 1000 events, each judged on its own.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchBody {
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<EventBody>,
}

/// The refusals both `POST` endpoints can answer, each with the JSON error body.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only described, never built: the answers are `IngestError`'s and the gate's.
pub enum PostErrors {
    /// Not JSON, not an object, or rules broken: `details` lists every field at fault.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No key, an unknown or revoked one, or a write key in a URL.
    #[response(status = 401, headers(("WWW-Authenticate" = String)))]
    Unauthorized(ErrorBody),
    /// A key used outside its scope: another shop, an origin not on a public key's list, a
    /// purchase a public key may not send.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The body is over its limit (64 KiB for one event, 1 MiB or 1000 events for a batch).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is neither `application/json` nor `text/plain`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// Over `RATE_LIMIT_WRITE` per key (or `RATE_LIMIT_ANON` per address).
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    TooManyRequests(ErrorBody),
    /// Redis cannot take the events, too many wait unacknowledged, or the keys are not read yet.
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use events_core::event::KNOWN_FIELDS;

    #[test]
    fn the_event_schema_has_exactly_the_fields_the_validator_knows() {
        let json = serde_json::to_value(crate::routes::document()).expect("json");
        let properties = json["components"]["schemas"]["EventBody"]["properties"]
            .as_object()
            .expect("EventBody has properties");
        let mut documented: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut known = KNOWN_FIELDS.to_vec();
        documented.sort_unstable();
        known.sort_unstable();
        assert_eq!(documented, known);
    }
}
