//! The API's one error type.
//!
//! Policy: every failure a client can cause maps to a 4xx with the one JSON shape
//! `{"error": {"code", "message", "field"?, "line"?}}` and a message that says what to fix.
//! Internal causes (database, I/O, bugs) are logged with their detail and answered as a
//! bare 500: nothing internal is sent to the client. The storage layer has its own error
//! ([`crate::store::StoreError`]); its conflicts become 409 here, at the handler edge.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moat_openapi::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (syntax): 400.
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    /// Well-formed but invalid input: 422.
    #[error("{message}")]
    Validation { message: String, field: Option<String>, line: Option<u32> },
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("not allowed")]
    Forbidden,
    /// A read-only API key used for anything but reading: 403.
    #[error("read-only API key")]
    ReadOnlyKey,
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { message: String, field: Option<String>, line: Option<u32> },
    #[error("too many requests")]
    RateLimited,
    /// A capability the platform has not switched on for this tenant (a feature flag).
    #[error("not enabled")]
    NotEnabled(&'static str),
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    /// The body is over the route's stated limit: 413.
    #[error("request body too large")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found() -> Self {
        ApiError::NotFound
    }

    pub fn forbidden() -> Self {
        ApiError::Forbidden
    }

    pub fn bad_request(message: impl Into<String>, field: Option<String>) -> Self {
        ApiError::BadRequest { message: message.into(), field }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation { message: message.into(), field: Some(field.to_string()), line: None }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict { message: message.into(), field: Some(field.to_string()), line: None }
    }

    /// The same error, tagged with the CSV line it came from (header is line 1).
    pub fn at_line(self, line: u32) -> Self {
        match self {
            ApiError::Validation { message, field, .. } => {
                ApiError::Validation { message: format!("line {line}: {message}"), field, line: Some(line) }
            }
            ApiError::Conflict { message, field, .. } => {
                ApiError::Conflict { message: format!("line {line}: {message}"), field, line: Some(line) }
            }
            other => other,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String, Option<String>, Option<u32>) {
        match self {
            ApiError::BadRequest { message, field } => {
                (StatusCode::BAD_REQUEST, "bad_request", message.clone(), field.clone(), None)
            }
            ApiError::Validation { message, field, line } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation", message.clone(), field.clone(), *line)
            }
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, "unauthorized", why.to_string(), None, None),
            ApiError::Forbidden => {
                (StatusCode::FORBIDDEN, "forbidden", "your role does not allow this".into(), None, None)
            }
            ApiError::ReadOnlyKey => (
                StatusCode::FORBIDDEN,
                "read_only",
                "this API key is read-only: it may only make GET requests".into(),
                None,
                None,
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource".into(), None, None),
            ApiError::NotEnabled(what) => (
                StatusCode::FORBIDDEN,
                "not_enabled",
                format!("{what} is not enabled for your organisation"),
                None,
                None,
            ),
            ApiError::Conflict { message, field, line } => {
                (StatusCode::CONFLICT, "conflict", message.clone(), field.clone(), *line)
            }
            ApiError::RateLimited => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many attempts, try again later".into(), None, None)
            }
            ApiError::UnsupportedMediaType(want) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: {want}"),
                None,
                None,
            ),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is over the {limit} bytes this endpoint accepts"),
                None,
                None,
            ),
            ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into(), None, None)
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => ApiError::NotFound,
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict { field, message, line } => ApiError::Conflict { message, field: Some(field), line },
            StoreError::Database(db) => db.into(),
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let (status, code, message, field, line) = self.parts();
        let body = ErrorBody { error: ErrorDetail { code: code.into(), message, field, line } };
        (status, axum::Json(body)).into_response()
    }
}
