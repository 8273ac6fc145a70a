//! The HTTP routes of ingestion. The router never binds a socket: `serve` and the tests do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use events_core::event::{Event, FieldError, new_event_id};
use events_core::http::{health, method_not_allowed, not_found, readiness, track_requests};
use events_core::telemetry::metrics_endpoint;
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::IngestError;

/// The largest single event body.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The largest batch body.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 1000;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v1/events",
            post(post_event).layer(DefaultBodyLimit::max(MAX_EVENT_BYTES)),
        )
        .route(
            "/v1/events/batch",
            post(post_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/metrics", get(metrics_endpoint))
        .route_layer(middleware::from_fn(track_requests))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Failures are logged once where their cause is known (IngestError), not again here.
        .layer(TraceLayer::new_for_http().on_failure(()))
}

/// `POST /v1/events`: one event; `202` once Redis holds it.
async fn post_event(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    let value = read_json(&headers, body, MAX_EVENT_BYTES)?;
    let event = Event::from_json(value, Utc::now(), new_event_id)
        .map_err(|details| IngestError::invalid("the event is invalid", details))?;
    publish(&state, vec![event.to_json()]).await?;
    tracing::debug!(event_id = %event.event_id, "event accepted");
    let body = json!({"status": "accepted", "event_id": event.event_id});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// One refused event of a batch.
#[derive(Debug, Serialize)]
struct Rejected {
    index: usize,
    error: String,
    details: Vec<FieldError>,
}

/// `POST /v1/events/batch`: `{"events":[…]}`; each event is judged on its own, and the valid
/// ones go to Redis in one round trip.
async fn post_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    let value = read_json(&headers, body, MAX_BATCH_BYTES)?;
    let items = batch_items(value)?;
    if items.len() > MAX_BATCH_EVENTS {
        return Err(IngestError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH_EVENTS} events, got {}",
            items.len()
        )));
    }
    if items.is_empty() {
        let details = vec![FieldError::new("events", "must hold at least one event")];
        return Err(IngestError::invalid("the batch is empty", details));
    }
    let received_at = Utc::now();
    let mut accepted = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match Event::from_json(item, received_at, new_event_id) {
            Ok(event) => accepted.push(event.to_json()),
            Err(details) => rejected.push(Rejected {
                index,
                error: "the event is invalid".into(),
                details,
            }),
        }
    }
    metrics::counter!("events_rejected_total", "reason" => "invalid")
        .increment(rejected.len() as u64);
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
    let accepted_count = accepted.len();
    publish(&state, accepted).await?;
    let body = json!({"accepted": accepted_count, "rejected": rejected});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `GET /v1/ready`: `200` while Redis answers.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    readiness(state.publisher.ping().await.map_err(|e| e.to_string()))
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
    let started = std::time::Instant::now();
    let published = state.publisher.publish(&payloads).await;
    metrics::histogram!("redis_publish_duration_seconds").record(started.elapsed().as_secs_f64());
    published.map_err(|source| IngestError::Unavailable {
        source,
        retry_after: state.retry_after,
    })?;
    state.backlog.add(count);
    metrics::counter!("events_accepted_total").increment(count);
    Ok(())
}

/// Checks the content type and size, and parses the body as JSON.
fn read_json(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Value, IngestError> {
    check_content_type(headers)?;
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngestError::TooLarge(format!("the body is larger than {limit} bytes"))
        } else {
            IngestError::invalid(
                format!("the body could not be read: {rejection}"),
                Vec::new(),
            )
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
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
fn batch_items(value: Value) -> Result<Vec<Value>, IngestError> {
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
