//! The worker's shared state, cheap to clone into every session and task.

use std::ops::Deref;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::WorkerConfig;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::policy::Policy;
use crate::queue::Queue;
use crate::spool::Spool;

#[derive(Clone)]
pub struct Worker(Arc<WorkerInner>);

pub struct WorkerInner {
    /// Settings the worker started with.
    pub config: WorkerConfig,
    /// The policy snapshot in force.
    pub policy: Policy,
    /// Durable storage of accepted messages.
    pub spool: Spool,
    /// Events waiting for the API.
    pub outbox: Outbox,
    /// Delivery scheduler.
    pub queue: Queue,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// DNS for MX lookups of outbound mail.
    pub resolver: hickory_resolver::TokioResolver,
    /// STARTTLS, when a certificate is available.
    pub tls: Option<TlsAcceptor>,
}

impl Worker {
    pub fn new(inner: WorkerInner) -> Worker {
        Worker(Arc::new(inner))
    }
}

impl Deref for Worker {
    type Target = WorkerInner;

    fn deref(&self) -> &WorkerInner {
        &self.0
    }
}
