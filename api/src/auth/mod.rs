//! Authentication (who is calling) and authorisation (what it may reach), in one place.

pub mod caller;
pub mod node;
pub mod passwords;
pub mod tokens;

pub use caller::Caller;

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer(parts: &axum::http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}
