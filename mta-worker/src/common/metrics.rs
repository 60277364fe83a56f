//! Prometheus metrics of the worker (served on the admin port).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
