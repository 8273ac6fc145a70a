//! The HTTP routes of ingestion. The router never binds a socket: `serve` and the tests do.

use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use events_core::event::{
    DUPLICATE_FIELD, Event, EventRules, FieldError, ParsedJson, Shopper, Submitted, WireEvent,
    from_json_object, new_event_id,
};
use events_core::http::{Health, method_not_allowed, not_found, readiness, track_requests};
use events_core::keys::access::Authenticated;
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::{scope_event, shop_given, shops_given};
use crate::error::IngestError;
use crate::openapi::{self, BatchBody, EventBody, PostErrors};
use crate::{AppState, derive};

/// The largest single event body.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The largest batch body.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// Every route with its entry in the OpenAPI document: a route is added here, from its
/// annotated handler, or not at all.
pub fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(limited(routes!(post_event), MAX_EVENT_BYTES))
        .routes(limited(routes!(post_batch), MAX_BATCH_BYTES))
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(document_handler))
        .routes(routes!(crate::tracker::script))
}

/// A route whose bodies may be up to `bytes` long.
fn limited(
    (schemas, paths, method_router): UtoipaMethodRouter<Arc<AppState>>,
    bytes: usize,
) -> UtoipaMethodRouter<Arc<AppState>> {
    (
        schemas,
        paths,
        method_router.layer(DefaultBodyLimit::max(bytes)),
    )
}

/// The OpenAPI document of [`api`].
pub fn document() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The served document, built once from the routes.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_json()
        .unwrap_or_else(|error| format!("{{\"error\":\"the document failed: {error}\"}}"))
});

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapi_document", tag = "service", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn document_handler() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

pub fn router(state: Arc<AppState>) -> Router {
    let (api, _) = api().split_for_parts();
    api.route_layer(middleware::from_fn(track_requests))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Failures are logged once where their cause is known (IngestError), not again here.
        .layer(TraceLayer::new_for_http().on_failure(()))
}

/// `202` for one event: Redis holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "accepted")]
    pub status: &'static str,
    /// The id stored: the one sent, or the one the server assigned.
    pub event_id: String,
}

/// `202` for a batch: the valid events are held by Redis, the others listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    pub accepted: usize,
    /// The id stored for each accepted event, in request order.
    pub event_ids: Vec<String>,
    pub rejected: Vec<Rejected>,
}

/// `POST /v1/events`: one event; `202` once Redis holds it.
#[utoipa::path(post, path = "/v1/events", operation_id = "post_event", tag = "events",
    request_body(description = "JSON; as `text/plain` too, as `navigator.sendBeacon` sends it", content(
        (EventBody = "application/json"),
        (EventBody = "text/plain"),
    )),
    responses((status = 202, description = "Redis holds the event", body = Accepted), PostErrors))]
async fn post_event(
    State(state): State<Arc<AppState>>,
    key: Option<Extension<Authenticated>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    let browser = browser_shopper(&state, key.as_ref(), peer.as_ref(), &headers);
    let bytes = read_body(&headers, body, MAX_EVENT_BYTES)?;
    let received_at = Utc::now();
    let submitted = Submitted::from_valid_json(&bytes, received_at, &state.rules, new_event_id);
    let submitted = match submitted {
        Some(submitted) => submitted,
        None => {
            let parsed = parse_json(&bytes)?;
            judge_event(
                parsed.value,
                parsed.duplicates,
                received_at,
                &state.rules,
                new_event_id,
            )
            .map_err(|details| IngestError::invalid("the event is invalid", details))?
        }
    };
    let (mut event, shopper) = finish(&state, submitted, browser.as_ref());
    if let Some(Extension(key)) = &key {
        scope_event(Some(key), &mut event, shop_given(&bytes))
            .map_err(|e| IngestError::Forbidden(e.to_string()))?;
    }
    assign_visits(
        &state,
        std::slice::from_mut(&mut event),
        &[&shopper],
        received_at,
    )
    .await?;
    publish(&state, vec![event.to_json()]).await?;
    tracing::debug!(event_id = %event.event_id, "event accepted");
    let body = Accepted {
        status: "accepted",
        event_id: event.event_id,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// One refused event of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// The event's place in `events`, from 0.
    index: usize,
    error: String,
    details: Vec<FieldError>,
}

/// `POST /v1/events/batch`: `{"events":[…]}`; each event is judged on its own, and the valid
/// ones go to Redis in one round trip.
#[utoipa::path(post, path = "/v1/events/batch", operation_id = "post_batch", tag = "events",
    request_body(description = "JSON; as `text/plain` too, as `navigator.sendBeacon` sends it", content(
        (BatchBody = "application/json"),
        (BatchBody = "text/plain"),
    )),
    responses((status = 202, description = "The valid events are held by Redis; the others are listed", body = BatchAccepted), PostErrors))]
async fn post_batch(
    State(state): State<Arc<AppState>>,
    key: Option<Extension<Authenticated>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    let browser = browser_shopper(&state, key.as_ref(), peer.as_ref(), &headers);
    let bytes = read_body(&headers, body, MAX_BATCH_BYTES)?;
    let received_at = Utc::now();
    let judged = judge_batch(&bytes, received_at, &state.rules, new_event_id)?;
    let key = key.map(|Extension(key)| key);
    let given = match &key {
        Some(_) => shops_given(&bytes, judged.len()),
        None => Vec::new(),
    };
    // Up to 1 MiB that a request waiting for Redis need not hold.
    drop(bytes);
    let mut accepted = Vec::with_capacity(judged.len());
    let mut shoppers = Vec::with_capacity(judged.len());
    let mut rejected = Vec::new();
    let mut out_of_scope = 0;
    for (index, judgement) in judged.into_iter().enumerate() {
        match judgement {
            Ok(submitted) => {
                let (mut event, shopper) = finish(&state, submitted, browser.as_ref());
                let shop_given = given.get(index).copied().unwrap_or(true);
                match scope_event(key.as_ref(), &mut event, shop_given) {
                    Ok(()) => {
                        accepted.push(event);
                        shoppers.push(shopper);
                    }
                    Err(error) => {
                        out_of_scope += 1;
                        let error = error.to_string();
                        let details = vec![FieldError::new("shop_id", error.clone())];
                        rejected.push(Rejected {
                            index,
                            error,
                            details,
                        });
                    }
                }
            }
            Err(details) => rejected.push(Rejected {
                index,
                error: "the event is invalid".into(),
                details,
            }),
        }
    }
    metrics::counter!("events_rejected_total", "reason" => "invalid")
        .increment((rejected.len() - out_of_scope) as u64);
    metrics::counter!("events_rejected_total", "reason" => "forbidden")
        .increment(out_of_scope as u64);
    if accepted.is_empty() && out_of_scope == rejected.len() {
        return Err(IngestError::Forbidden(
            "no event in the batch is allowed for this key".into(),
        ));
    }
    if accepted.is_empty() {
        let details = rejected
            .into_iter()
            .flat_map(|r| {
                let index = r.index;
                r.details.into_iter().map(move |d| {
                    FieldError::new(format!("events[{index}].{}", d.field), d.message)
                })
            })
            .collect();
        return Err(IngestError::invalid(
            "no event in the batch is valid",
            details,
        ));
    }
    let shoppers: Vec<&Shopper> = shoppers.iter().collect();
    assign_visits(&state, &mut accepted, &shoppers, received_at).await?;
    let accepted_count = accepted.len();
    let (payloads, event_ids): (Vec<String>, Vec<String>) = accepted
        .into_iter()
        .map(|event| (event.to_json(), event.event_id))
        .unzip();
    publish(&state, payloads).await?;
    // The ids let a client retry the same events idempotently after a lost answer.
    let body = BatchAccepted {
        accepted: accepted_count,
        event_ids,
        rejected,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The shopper of a browser's request (its own user agent and address), `None` for a
/// server's.
fn browser_shopper(
    state: &AppState,
    key: Option<&Extension<Authenticated>>,
    peer: Option<&Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<Shopper> {
    let peer = peer.map(|Extension(ConnectInfo(address))| address.ip());
    derive::shopper::of_browser(key.map(|Extension(k)| k), headers, peer, &state.proxies)
}

/// A valid event with the shopper's part of its traffic derived, and that shopper: the
/// browser's own user agent and address for a browser's request, the event's fields
/// otherwise. The user agent and IP address go no further than [`assign_visits`].
fn finish(state: &AppState, submitted: Submitted, browser: Option<&Shopper>) -> (Event, Shopper) {
    let Submitted { mut event, shopper } = submitted;
    let shopper = browser.cloned().unwrap_or(shopper);
    derive::fill(&mut event.traffic, &shopper, state.geo.as_ref());
    (event, shopper)
}

/// Cookieless visitor ids and sessions (see [`crate::visits`]); `503` when Redis cannot
/// say, as when it cannot take the events.
async fn assign_visits(
    state: &AppState,
    events: &mut [Event],
    shoppers: &[&Shopper],
    received_at: DateTime<Utc>,
) -> Result<(), IngestError> {
    let started = std::time::Instant::now();
    let assigned = state.visits.assign(events, shoppers, received_at).await;
    metrics::histogram!("visits_assign_duration_seconds").record(started.elapsed().as_secs_f64());
    assigned.map_err(|source| IngestError::Unavailable {
        source,
        retry_after: state.retry_after,
    })
}

/// `GET /v1/health`: `200` while the process is up.
#[utoipa::path(get, path = "/v1/health", operation_id = "health", tag = "service", security(()),
    responses((status = 200, description = "The process is up", body = Health)))]
async fn health() -> Json<Health> {
    events_core::http::health().await
}

/// `GET /v1/ready`: `200` while Redis answers.
#[utoipa::path(get, path = "/v1/ready", operation_id = "ready", tag = "service", security(()),
    responses(
        (status = 200, description = "Redis answers", body = Health),
        (status = 503, description = "Not ready, and why", body = Health),
    ))]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    readiness(state.publisher.ping().await)
}

async fn publish(state: &AppState, payloads: Vec<String>) -> Result<(), IngestError> {
    if state.backlog.is_full() {
        return Err(IngestError::BacklogFull {
            backlog: state.backlog.current(),
            limit: state.backlog.limit(),
            retry_after: state.retry_after * 5,
        });
    }
    let count = payloads.len() as u64;
    let bytes = payloads.iter().map(|p| p.len() as u64).sum();
    let started = std::time::Instant::now();
    let published = state.publisher.publish(payloads).await;
    metrics::histogram!("redis_publish_duration_seconds").record(started.elapsed().as_secs_f64());
    published.map_err(|source| IngestError::Unavailable {
        source,
        retry_after: state.retry_after,
    })?;
    state.backlog.add(count, bytes);
    metrics::counter!("events_accepted_total").increment(count);
    Ok(())
}

/// A batch body whose events all take the fast path (see [`judge_batch`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatch<'a> {
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

/// Each event of a batch body, accepted or with its field errors; the batch itself refused
/// when it is not a JSON object with one `events` array of 1 to 1000 events.
///
/// The fast path reads a batch of plain, valid events straight into borrowed [`WireEvent`]s,
/// without a `Value` tree. On anything else (one invalid event is enough) it gives up and the
/// whole body goes through the full path, so the answers are those of the full path: judging
/// events one by one would parse an event outside its batch, where JSON's nesting limit
/// applies differently.
fn judge_batch(
    bytes: &[u8],
    received_at: DateTime<Utc>,
    rules: &EventRules,
    new_id: fn() -> String,
) -> Result<Vec<Judgement>, IngestError> {
    if let Ok(batch) = from_json_object::<WireBatch>(bytes) {
        check_batch_len(batch.events.len())?;
        let valid: Option<Vec<_>> = batch
            .events
            .iter()
            .map(|event| event.validate(received_at, rules, new_id).map(Ok))
            .collect();
        if let Some(valid) = valid {
            return Ok(valid);
        }
    }
    judge_batch_fully(bytes, received_at, rules, new_id)
}

/// The full path of [`judge_batch`]: the body as a `Value`, each event through
/// [`Event::from_json`].
fn judge_batch_fully(
    bytes: &[u8],
    received_at: DateTime<Utc>,
    rules: &EventRules,
    new_id: fn() -> String,
) -> Result<Vec<Judgement>, IngestError> {
    let parsed = parse_json(bytes)?;
    // A key given twice inside `events[i]` refuses that event; anywhere else, the batch.
    let mut per_event: Vec<(usize, String)> = Vec::new();
    let mut outside = Vec::new();
    for path in parsed.duplicates {
        match split_event_path(&path) {
            Some((index, field)) => per_event.push((index, field.to_owned())),
            None => outside.push(FieldError::new(path, DUPLICATE_FIELD)),
        }
    }
    let items = batch_items(parsed.value, outside)?;
    check_batch_len(items.len())?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let duplicates = per_event
                .iter()
                .filter(|(i, _)| *i == index)
                .map(|(_, field)| field.clone())
                .collect();
            judge_event(item, duplicates, received_at, rules, new_id)
        })
        .collect())
}

/// `events[3].shop_id` → `(3, "shop_id")`.
fn split_event_path(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("events[")?;
    let (index, field) = rest.split_once("].")?;
    Some((index.parse().ok()?, field))
}

/// One event through the full validator; fields given twice are refused with the rest.
fn judge_event(
    value: serde_json::Value,
    duplicates: Vec<String>,
    received_at: DateTime<Utc>,
    rules: &EventRules,
    new_id: fn() -> String,
) -> Judgement {
    let judged = Submitted::from_json(value, received_at, rules, new_id);
    if duplicates.is_empty() {
        return judged;
    }
    let mut errors: Vec<FieldError> = duplicates
        .into_iter()
        .map(|field| FieldError::new(field, DUPLICATE_FIELD))
        .collect();
    errors.extend(judged.err().unwrap_or_default());
    Err(errors)
}

/// One event of a batch: accepted, or refused with its field errors.
type Judgement = Result<Submitted, Vec<FieldError>>;

fn check_batch_len(len: usize) -> Result<(), IngestError> {
    if len > MAX_BATCH_EVENTS {
        return Err(IngestError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH_EVENTS} events, got {len}"
        )));
    }
    if len == 0 {
        let details = vec![FieldError::new("events", "must hold at least one event")];
        return Err(IngestError::invalid("the batch is empty", details));
    }
    Ok(())
}

/// Checks the content type and size of a body.
fn read_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, IngestError> {
    check_content_type(headers)?;
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngestError::TooLarge(format!("the body is larger than {limit} bytes"))
        } else {
            IngestError::invalid(
                format!("the body could not be read: {rejection}"),
                Vec::new(),
            )
        }
    })
}

/// Parses a body as JSON, for the full path, noting keys given twice.
fn parse_json(bytes: &[u8]) -> Result<ParsedJson, IngestError> {
    events_core::event::parse_json(bytes).map_err(|e| {
        IngestError::invalid(
            "the body is not valid JSON",
            vec![FieldError::new("body", e.to_string())],
        )
    })
}

/// `application/json` (any parameters) or `text/plain` holding JSON, as `sendBeacon` sends.
fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(IngestError::UnsupportedMediaType(
            "a Content-Type is required: application/json or text/plain".into(),
        ));
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" | "text/plain" => Ok(()),
        _ => Err(IngestError::UnsupportedMediaType(format!(
            "Content-Type `{essence}` is not supported: send application/json or text/plain"
        ))),
    }
}

/// The events of a batch body: an object with exactly one field, `events`, holding an array.
fn batch_items(
    value: serde_json::Value,
    duplicates: Vec<FieldError>,
) -> Result<Vec<serde_json::Value>, IngestError> {
    use serde_json::Value;
    let Value::Object(mut object) = value else {
        let details = vec![FieldError::new(
            "body",
            "must be a JSON object with an `events` array",
        )];
        return Err(IngestError::invalid("the batch is invalid", details));
    };
    let mut details: Vec<FieldError> = object
        .keys()
        .filter(|k| k.as_str() != "events")
        .map(|k| FieldError::new(k.clone(), "is not a known field"))
        .chain(duplicates)
        .collect();
    let events = object.remove("events");
    match events {
        Some(Value::Array(items)) if details.is_empty() => Ok(items),
        Some(Value::Array(_)) => Err(IngestError::invalid("the batch is invalid", details)),
        None | Some(Value::Null) => {
            details.push(FieldError::new("events", "is required"));
            Err(IngestError::invalid("the batch is invalid", details))
        }
        Some(_) => {
            details.push(FieldError::new("events", "must be an array of events"));
            Err(IngestError::invalid("the batch is invalid", details))
        }
    }
}

#[cfg(test)]
mod tests {
    /// Routes come only from annotated handlers through [`super::api`], which puts them in
    /// the document.
    #[test]
    fn no_route_bypasses_the_document() {
        let sources = [include_str!("routes.rs"), include_str!("lib.rs")];
        let plain = sources
            .iter()
            .flat_map(|source| source.lines())
            .map(str::trim)
            .filter(|line| line.starts_with(".route(") || line.starts_with(".nest("))
            .count();
        assert_eq!(plain, 0);
    }

    use proptest::prelude::*;

    use super::*;

    /// Events as a client might spell them: valid and plain, valid with an escape, invalid,
    /// not an object, nested deeper than JSON's limit allows inside a batch.
    fn event_text() -> impl Strategy<Value = String> {
        let deep = format!("{}1{}", "[".repeat(126), "]".repeat(126));
        prop::sample::select(vec![
            r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","product_id":"p-1"}"#.to_owned(),
            r#"{"event_type":"purchase","timestamp":"2025-10-02T10:30:00+02:00","order_amount":9.99,"event_id":"e-1"}"#.to_owned(),
            r#"{"event_type":"add_to_cart","timestamp":"2025-10-02T10:30:00Z","path":"\/cart"}"#.to_owned(),
            r#"{"event_type":"purchase","timestamp":"2025-10-02T10:30:00Z"}"#.to_owned(),
            r#"{"event_type":"page_view","timestamp":"later","order_ammount":1}"#.to_owned(),
            r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","product_id":null}"#.to_owned(),
            r#"{"event_type":"page_view","event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}"#.to_owned(),
            r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","shop_id":"a","shop_id":"victim"}"#.to_owned(),
            r#"{"event_type":"page_view","timestamp":"0001-01-01T00:00:00Z"}"#.to_owned(),
            r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","sent_at":"9999-12-31T23:59:59Z"}"#.to_owned(),
            "{\"event_type\":\"page_view\",\"timestamp\":\"2025-10-02T10:30:00Z\",\"product_id\":\"p\u{202E}\"}".to_owned(),
            r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","session_id":"\ufeffs"}"#.to_owned(),
            "[]".to_owned(),
            "null".to_owned(),
            format!(r#"{{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","path":{deep}}}"#),
        ])
    }

    fn batch_text() -> impl Strategy<Value = String> {
        let wrappers = vec![
            r#"{"events":[EVENTS]}"#,
            r#"{"events":[EVENTS],"extra":1}"#,
            r#"{"events":[],"events":[EVENTS]}"#,
            r#"{"events":[EVENTS],"events":[EVENTS]}"#,
            r#"{"events":[EVENTS]} x"#,
            r#"[EVENTS]"#,
            r#"{"events":null}"#,
            r#"{"events":{"a":[EVENTS]}}"#,
        ];
        (
            prop::sample::select(wrappers),
            prop::collection::vec(event_text(), 0..4),
        )
            .prop_map(|(wrapper, events)| wrapper.replace("EVENTS", &events.join(",")))
    }

    /// What a judgement says, accepted events or refusal, as comparable text.
    fn answer(result: Result<Vec<Judgement>, IngestError>) -> String {
        format!("{result:?}")
    }

    fn server_id() -> String {
        "server-id".to_owned()
    }

    proptest! {
        #[test]
        fn a_batch_is_judged_as_the_full_path_judges_it(text in batch_text()) {
            let received_at = Utc::now();
            let rules = EventRules::default();
            let fast = answer(judge_batch(text.as_bytes(), received_at, &rules, server_id));
            let full = answer(judge_batch_fully(text.as_bytes(), received_at, &rules, server_id));
            prop_assert_eq!(fast, full, "{}", text);
        }
    }

    #[test]
    fn more_than_1000_events_are_refused_on_either_path() {
        let event = r#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}"#;
        let text = format!(r#"{{"events":[{}]}}"#, vec![event; 1001].join(","));
        let answer = judge_batch(
            text.as_bytes(),
            Utc::now(),
            &EventRules::default(),
            server_id,
        );
        assert!(matches!(answer, Err(IngestError::TooLarge(_))));
    }
}
