//! The ingestion service's one error type. Every refusal says what was wrong, with the status
//! code docs/API.md gives and a JSON body; Redis failures are logged here once and answered `503`
//! with `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use events_core::event::FieldError;
use events_core::http::error_response;
use events_core::transport::{BacklogSize, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{error}")]
    Invalid {
        error: String,
        details: Vec<FieldError>,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A good key used outside its scope (another shop, a purchase it may not send).
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "{} events ({} bytes in Redis) are waiting to be stored (limit {} events or {} bytes); retry later",
        backlog.events, backlog.bytes, limit.events, limit.bytes
    )]
    BacklogFull {
        backlog: BacklogSize,
        limit: BacklogSize,
        retry_after: Duration,
    },
    #[error("events cannot be queued right now: {source}")]
    Unavailable {
        source: TransportError,
        retry_after: Duration,
    },
}

impl IngestError {
    pub fn invalid(error: impl Into<String>, details: Vec<FieldError>) -> Self {
        IngestError::Invalid {
            error: error.into(),
            details,
        }
    }

    /// The `reason` label of `events_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::Invalid { .. } => "invalid",
            IngestError::TooLarge(_) => "too_large",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::Forbidden(_) => "forbidden",
            IngestError::BacklogFull { .. } => "backlog_full",
            IngestError::Unavailable { .. } => "redis_unavailable",
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Invalid { .. } => StatusCode::BAD_REQUEST,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Forbidden(_) => StatusCode::FORBIDDEN,
            IngestError::Unavailable { .. } | IngestError::BacklogFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        // A refused batch counts its events where it is judged; here every other refusal
        // counts as one.
        if !matches!(&self, IngestError::Invalid { details, .. } if details.iter().any(|d| d.field.starts_with("events[")))
        {
            metrics::counter!("events_rejected_total", "reason" => self.reason()).increment(1);
        }
        let (message, retry_after) = match self {
            IngestError::Invalid { error, details } => {
                return error_response(status, error, details);
            }
            IngestError::Unavailable {
                source,
                retry_after,
            } => {
                if once_a_second() {
                    tracing::warn!(error = %source, "refusing events: Redis unavailable");
                }
                let message =
                    "events cannot be queued right now (Redis is unavailable); retry later";
                (message.to_owned(), retry_after)
            }
            IngestError::BacklogFull { retry_after, .. } => (self.to_string(), retry_after),
            other => return error_response(status, other.to_string(), Vec::new()),
        };
        let mut response = error_response(status, message, Vec::new());
        let seconds = retry_after.as_secs().max(1).to_string();
        if let Ok(value) = seconds.parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// During an outage every request fails the same way; one warning a second says it.
fn once_a_second() -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.swap(now, Ordering::Relaxed) != now
}
