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

/// The address a client is limited under: IPv4 addresses as they are, IPv6 by their /64
/// (a host usually has a whole /64, and could otherwise rotate through it).
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let masked = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(masked))
        }
        v4 => v4,
    }
}

/// The set of relayed Message-IDs: at most a million, each kept a week.
pub fn relayed_message_ids() -> moka::sync::Cache<String, ()> {
    moka::sync::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(std::time::Duration::from_secs(7 * 24 * 3600))
        .build()
}

/// Per-client rate limits, keyed by [`client_key`].
pub struct Limits {
    pub connections: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub messages: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

impl Limits {
    pub fn new(config: &WorkerConfig) -> Limits {
        let per_minute = |n: u32| governor::Quota::per_minute(std::num::NonZeroU32::new(n.max(1)).expect("non-zero"));
        Limits {
            connections: governor::RateLimiter::keyed(per_minute(config.connections_per_ip_per_minute)),
            messages: governor::RateLimiter::keyed(per_minute(config.messages_per_ip_per_minute)),
            open: Default::default(),
        }
    }
}

impl Worker {
    /// Whether `ip` is a known gateway.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

pub struct WorkerInner {
    /// Settings the worker started with.
    pub config: WorkerConfig,
    /// The API's worker channel.
    pub api: crate::api::ApiClient,
    /// The policy snapshot in force.
    pub policy: Policy,
    /// Durable storage of accepted messages.
    pub spool: Spool,
    /// Events waiting for the API.
    pub outbox: Outbox,
    /// Quarantined copies waiting for the API.
    pub uploads: Arc<crate::quarantine::Uploads>,
    /// Delivery scheduler.
    pub queue: Queue,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// DNS for MX lookups of outbound mail.
    pub resolver: hickory_resolver::TokioResolver,
    /// Client IP reputation, shared with other nodes through the API.
    pub reputation: Arc<crate::reputation::Reputation>,
    /// DNS block/allow lists.
    pub dnsbl: crate::dnsbl::Dnsbl,
    pub greylist: crate::greylist::Greylist,
    /// Per-IP connection and message rates, and connections open now.
    pub limits: Limits,
    /// Known gateways: no delay, no DNSBL, no rate limits.
    pub trusted: Vec<ipnet::IpNet>,
    /// Bounce address tags for outbound senders.
    pub batv: crate::batv::Batv,
    /// Message-IDs this node relayed outbound (an untagged bounce must quote one); bounded
    /// and forgotten after a week (bounces come within the senders' queue lifetimes).
    pub sent_ids: moka::sync::Cache<String, ()>,
    /// STARTTLS, when a certificate is available.
    pub tls: Option<TlsAcceptor>,
    /// SPF/DKIM/ARC/DMARC checks (over the same resolver).
    pub authenticator: mail_auth::MessageAuthenticator,
    /// Content scoring: rules and spam models.
    pub scanner: crate::scan::Scanner,
    /// rspamd, when configured.
    pub rspamd: Option<crate::rspamd::Rspamd>,
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

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }
}
