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
            registry: Registry::default(),
        };
        registry.register("connections", "SMTP connections accepted", m.connections.clone());
        registry.register("sessions", "SMTP sessions open now", m.sessions.clone());
        registry.register("messages", "Messages accepted, by verdict", m.messages.clone());
        registry.register("refused_recipients", "RCPT TO refused", m.refused_recipients.clone());
        registry.register("queue_depth", "Messages in the delivery queue", m.queue_depth.clone());
        registry.register("delivery_attempt_seconds", "Duration of delivery attempts", m.delivery_latency.clone());
        Metrics { registry, ..m }
    }

    pub fn message(&self, verdict: &str) {
        self.messages.get_or_create(&VerdictLabel { verdict: verdict.into() }).inc();
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

/// The local HTTP port's routes.
pub fn router(worker: Worker) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(render))
        .route("/queue", get(list_queue))
        .route("/queue/rescan", post(rescan))
        .route("/queue/{id}", delete(remove))
        .with_state(worker)
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
    match worker.spool.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}
