//! Request extractors that answer bad input with the API's one error shape, naming the
//! field at fault (axum's own rejections answer plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; unknown fields, wrong types and missing fields are 422 naming the field,
/// broken JSON is 400.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
                ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let ApiBody(bytes) = ApiBody::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The body limit of a route, as its router stated it (see `http::limited`); read back here
/// so a 413 can say the number.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A whole request body within the route's limit; over it, 413 naming the limit.
#[derive(Debug)]
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        Bytes::from_request(req, state).await.map(ApiBody).map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit.unwrap_or(crate::config::SMALL_BODY_BYTES))
            } else {
                ApiError::bad_request(format!("cannot read body: {}", e.body_text()), None)
            }
        })
    }
}

/// Deserialises JSON, turning serde's errors into field-named API errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::bad_request(format!("malformed JSON: {message}"), None);
        }
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.split_once(p).and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f.to_string()));
        let field = match (path.as_str(), named) {
            (".", Some(f)) => f,
            (".", None) => String::new(),
            (p, Some(f)) if p == f || p.ends_with(&format!(".{f}")) => p.to_string(),
            (p, Some(f)) => format!("{p}.{f}"),
            (p, None) => p.to_string(),
        };
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        let message = if field.is_empty() { message } else { format!("{field}: {message}") };
        ApiError::Validation { message, field: (!field.is_empty()).then_some(field), line: None }
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}"), None))?;
    Ok(value)
}

/// Query parameters, with bad values answered as 400 in the error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request(e.body_text(), Some("query".into())))
    }
}

/// Path parameters (ids), with a malformed id answered as 400 naming `id`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| ApiError::bad_request("the id in the path is not a valid UUID", Some("id".into())))
    }
}

/// The client's address: the socket peer, or unspecified when the server runs without
/// connect info (in-process tests). Forwarded headers are not believed: no proxy is trusted.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(ip))
    }
}
