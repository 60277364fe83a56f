//! The node's shared state (its `AppState`), cheap to clone into every session and task.

use std::ops::Deref;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::common::config::WorkerConfig;
use crate::common::metrics::Metrics;
use crate::connection::dnsbl::Dnsbl;
use crate::connection::limits::Limits;
use crate::connection::reputation::Reputation;
use crate::content::rspamd::Rspamd;
use crate::content::scan::Scanner;
use crate::delivery::archive::Archive;
use crate::delivery::queue::{Delivery, Queue};
use crate::delivery::spool::Spool;
use crate::envelope::backscatter::RelayedIds;
use crate::envelope::batv::Batv;
use crate::envelope::greylist::Greylist;
use crate::policy::Policy;
use crate::upstream::client::ApiClient;
use crate::upstream::outbox::Outbox;
use crate::upstream::uploads::Uploads;

#[derive(Clone)]
pub struct Worker(Arc<WorkerInner>);

impl Worker {
    /// Whether `ip` is a known gateway.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

pub struct WorkerInner {
    /// Settings the worker started with.
    pub config: Arc<WorkerConfig>,
    /// The API's worker channel.
    pub api: ApiClient,
    /// The policy snapshot in force.
    pub policy: Policy,
    /// Durable storage of accepted messages.
    pub spool: Spool,
    /// Events waiting for the API.
    pub outbox: Outbox,
    /// Quarantined copies waiting for the API.
    pub uploads: Arc<Uploads>,
    /// Live Archive copies waiting for the API.
    pub archive: Archive,
    /// Delivery scheduler.
    pub queue: Queue,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// DNS for MX lookups of outbound mail.
    pub resolver: hickory_resolver::TokioResolver,
    /// Client IP reputation, shared with other nodes through the API.
    pub reputation: Arc<Reputation>,
    /// DNS block/allow lists.
    pub dnsbl: Dnsbl,
    pub greylist: Greylist,
    /// What each sender and organisation relayed through this node (outbound limits).
    pub outbound: crate::envelope::outbound::OutboundMeter,
    /// Per-IP connection and message rates, and connections open now.
    pub limits: Limits,
    /// Known gateways: no delay, no DNSBL, no rate limits.
    pub trusted: Vec<ipnet::IpNet>,
    /// Bounce address tags for outbound senders.
    pub batv: Arc<Batv>,
    /// Message-IDs this node relayed outbound (an untagged bounce must quote one); bounded
    /// and forgotten after a week (bounces come within the senders' queue lifetimes).
    pub sent_ids: RelayedIds,
    /// STARTTLS, when a certificate is available.
    pub tls: Option<TlsAcceptor>,
    /// SPF/DKIM/ARC/DMARC checks (over the same resolver).
    pub authenticator: mail_auth::MessageAuthenticator,
    /// Content scoring: rules and spam models.
    pub scanner: Scanner,
    /// rspamd, when configured.
    pub rspamd: Option<Rspamd>,
}

impl Worker {
    pub fn new(inner: WorkerInner) -> Worker {
        Worker(Arc::new(inner))
    }

    /// The delivery stage's view of the node.
    pub fn delivery(&self) -> Delivery {
        Delivery {
            config: self.config.clone(),
            policy: self.policy.clone(),
            spool: self.spool.clone(),
            queue: self.queue.clone(),
            outbox: self.outbox.clone(),
            metrics: self.metrics.clone(),
            resolver: self.resolver.clone(),
            batv: self.batv.clone(),
            archive: self.archive.clone(),
        }
    }
}

impl Deref for Worker {
    type Target = WorkerInner;

    fn deref(&self) -> &WorkerInner {
        &self.0
    }
}
