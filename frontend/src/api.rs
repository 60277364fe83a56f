//! The typed REST client: the one place that adds the bearer token, turns the API's error
//! JSON into [`ApiError`], and reacts to a 401 by ending the session.

use std::cell::RefCell;

use gloo_net::http::{Request, RequestBuilder};
use leptos::prelude::{RwSignal, Update};
use moat_openapi::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

const TOKEN_KEY: &str = "moat.token";

/// A failed call: the API's error (code, message, field) or a network failure (status 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    fn network(err: impl std::fmt::Display) -> ApiError {
        ApiError { status: 0, code: "network".into(), message: format!("Cannot reach the server: {err}"), field: None }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

thread_local! {
    static TOKEN: RefCell<Option<String>> = RefCell::new(load_token());
    static ON_UNAUTHORIZED: RefCell<Option<Box<dyn Fn()>>> = RefCell::new(None);
    static IN_FLIGHT: RefCell<Option<RwSignal<u32>>> = const { RefCell::new(None) };
}

/// Counts requests in flight into `counter` (the top bar's loading indicator reads it).
pub fn track_in_flight(counter: RwSignal<u32>) {
    IN_FLIGHT.with(|c| *c.borrow_mut() = Some(counter));
}

/// Counts one request while it lives.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        IN_FLIGHT.with(|c| {
            if let Some(sig) = *c.borrow() {
                sig.update(|n| *n += 1);
            }
        });
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with(|c| {
            if let Some(sig) = *c.borrow() {
                sig.update(|n| *n = n.saturating_sub(1));
            }
        });
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn load_token() -> Option<String> {
    storage()?.get_item(TOKEN_KEY).ok().flatten()
}

/// The bearer token, kept in memory and in sessionStorage (so a reload keeps the session,
/// closing the tab ends it).
pub fn token() -> Option<String> {
    TOKEN.with(|t| t.borrow().clone())
}

pub fn set_token(token: Option<String>) {
    if let Some(s) = storage() {
        let _ = match &token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
    TOKEN.with(|t| *t.borrow_mut() = token);
}

/// What to do when the API answers 401 to an authenticated call (the session expired).
pub fn on_unauthorized(f: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|h| *h.borrow_mut() = Some(Box::new(f)));
}

fn url(path: &str) -> String {
    format!("/api/v1{path}")
}

async fn send<T: DeserializeOwned>(builder: RequestBuilder, body: Option<String>) -> Result<T, ApiError> {
    send_as(builder, body, "application/json").await
}

/// Posts a CSV text (user imports and their preview).
pub async fn post_csv<T: DeserializeOwned>(path: &str, text: String) -> Result<T, ApiError> {
    send_as(Request::post(&url(path)), Some(text), "text/csv").await
}

async fn send_as<T: DeserializeOwned>(
    builder: RequestBuilder,
    body: Option<String>,
    content_type: &str,
) -> Result<T, ApiError> {
    let _in_flight = InFlight::start();
    let authed = token().is_some();
    let builder = match token() {
        Some(t) => builder.header("Authorization", &format!("Bearer {t}")),
        None => builder,
    };
    let request = match body {
        Some(text) => builder.header("Content-Type", content_type).body(text).map_err(ApiError::network)?,
        None => builder.build().map_err(ApiError::network)?,
    };
    let response = request.send().await.map_err(ApiError::network)?;
    let status = response.status();
    let text = response.text().await.map_err(ApiError::network)?;
    if (200..300).contains(&status) {
        let text = if text.is_empty() { "null" } else { text.as_str() };
        return serde_json::from_str(text).map_err(|e| ApiError {
            status,
            code: "decode".into(),
            message: format!("Unexpected answer: {e}"),
            field: None,
        });
    }
    if status == 401 && authed {
        set_token(None);
        ON_UNAUTHORIZED.with(|h| {
            if let Some(f) = h.borrow().as_ref() {
                f();
            }
        });
    }
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ApiError { status, code: body.error.code, message: body.error.message, field: body.error.field },
        Err(_) => {
            ApiError { status, code: "http".into(), message: format!("The server answered {status}"), field: None }
        }
    })
}

fn json<B: Serialize>(body: &B) -> Option<String> {
    serde_json::to_string(body).ok()
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    send(Request::get(&url(path)), None).await
}

pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send(Request::post(&url(path)), json(body)).await
}

pub async fn patch<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send(Request::patch(&url(path)), json(body)).await
}

pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send(Request::put(&url(path)), json(body)).await
}

pub async fn delete(path: &str) -> Result<(), ApiError> {
    send::<serde_json::Value>(Request::delete(&url(path)), None).await.map(|_| ())
}

/// Posts with no body (actions such as resend-welcome).
pub async fn post_empty(path: &str) -> Result<(), ApiError> {
    send::<serde_json::Value>(Request::post(&url(path)), None).await.map(|_| ())
}

/// The bytes of a download (an attachment), with the session's token.
pub async fn get_bytes(path: &str) -> Result<Vec<u8>, ApiError> {
    let _in_flight = InFlight::start();
    let mut builder = Request::get(&url(path));
    if let Some(t) = token() {
        builder = builder.header("Authorization", &format!("Bearer {t}"));
    }
    let response = builder.send().await.map_err(ApiError::network)?;
    let status = response.status();
    if (200..300).contains(&status) {
        return response.binary().await.map_err(ApiError::network);
    }
    Err(ApiError { status, code: "http".into(), message: format!("The server answered {status}"), field: None })
}
