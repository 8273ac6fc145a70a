//! The analytics service's one error type: a bad parameter is a `400` naming it; a store
//! failure is logged once and answered `500` without its details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events_core::event::FieldError;
use events_core::http::error_response;
use events_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid parameter `{parameter}`: {message}")]
    BadParameter { parameter: String, message: String },
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("too many {what} at once; retry later")]
    Busy {
        what: &'static str,
        retry_after: std::time::Duration,
    },
}

impl ApiError {
    pub fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        match &self {
            ApiError::BadParameter { parameter, message } => error_response(
                status,
                self.to_string(),
                vec![FieldError::new(parameter.clone(), message.clone())],
            ),
            ApiError::Busy { retry_after, .. } => {
                let mut response = error_response(status, self.to_string(), Vec::new());
                let seconds = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = seconds.parse() {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
                response
            }
            ApiError::Store(error) => {
                tracing::error!(%error, "query failed");
                error_response(
                    status,
                    "the metrics could not be computed; see the service log",
                    Vec::new(),
                )
            }
        }
    }
}
