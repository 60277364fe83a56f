//! Prometheus metrics of the worker, and its small local HTTP port: `/healthz`,
//! `/metrics`, and the queue endpoints the `moat-mta queue` commands use.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::Worker;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    pub verdict: String,
}

pub struct Metrics {
    registry: Registry,
    pub connections: Counter,
    pub sessions: Gauge,
    pub messages: Family<VerdictLabel, Counter>,
    pub refused_recipients: Counter,
    pub queue_depth: Gauge,
    pub delivery_latency: Histogram,
    /// Quarantined copies the API refused for good (kept under `quarantine/refused/`).
    pub uploads_refused: Counter,
    /// Events the API refused for good (set aside under `outbox/dead/`).
    pub events_dead: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("moat_mta");
        let m = Metrics {
            connections: Counter::default(),
            sessions: Gauge::default(),
            messages: Family::default(),
            refused_recipients: Counter::default(),
            queue_depth: Gauge::default(),
            delivery_latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            uploads_refused: Counter::default(),
            events_dead: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "SMTP connections accepted", m.connections.clone());
        registry.register("sessions", "SMTP sessions open now", m.sessions.clone());
        registry.register("messages", "Messages accepted, by verdict", m.messages.clone());
        registry.register("refused_recipients", "RCPT TO refused", m.refused_recipients.clone());
        registry.register("queue_depth", "Messages in the delivery queue", m.queue_depth.clone());
        registry.register("delivery_attempt_seconds", "Duration of delivery attempts", m.delivery_latency.clone());
        registry.register(
            "uploads_refused",
            "Quarantined copies the API refused, kept aside",
            m.uploads_refused.clone(),
        );
        registry.register("events_dead", "Events the API refused, set aside in outbox/dead", m.events_dead.clone());
        Metrics { registry, ..m }
    }

    pub fn message(&self, verdict: moat_openapi::Verdict) {
        self.messages.get_or_create(&VerdictLabel { verdict: moat_openapi::wire_name(&verdict) }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

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
    if !crate::spool::is_valid_id(&id) {
        return StatusCode::BAD_REQUEST;
    }
    match worker.spool.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}
