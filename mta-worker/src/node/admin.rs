//! The worker's small local HTTP port: `/healthz`, `/metrics`, and the queue endpoints the
//! `moat-mta queue` commands use.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::node::state::Worker;

/// The local HTTP port's routes: health and metrics for anyone who can reach the port, the
/// queue endpoints only with the admin token (anything local could reach the port).
pub fn router(worker: Worker, admin_token: String) -> axum::Router {
    let queue = axum::Router::new()
        .route("/queue", get(list_queue))
        .route("/queue/rescan", post(rescan))
        .route("/queue/{id}", delete(remove))
        .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
            let expected = format!("Bearer {admin_token}");
            async move {
                let given = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                    return (StatusCode::UNAUTHORIZED, "admin token required\n").into_response();
                }
                next.run(req).await
            }
        }));
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(render))
        .merge(queue)
        .with_state(worker)
}

/// Compares secrets without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn render(State(worker): State<Worker>) -> impl IntoResponse {
    worker.metrics.queue_depth.set(worker.queue.depth() as i64);
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], worker.metrics.render())
}

async fn list_queue(State(worker): State<Worker>) -> impl IntoResponse {
    match worker.spool.list() {
        Ok(list) => Json(list).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn rescan(State(worker): State<Worker>) -> StatusCode {
    worker.queue.load(&worker.spool);
    StatusCode::NO_CONTENT
}

async fn remove(State(worker): State<Worker>, Path(id): Path<String>) -> StatusCode {
    if !crate::delivery::spool::is_valid_id(&id) {
        return StatusCode::BAD_REQUEST;
    }
    match worker.spool.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}
