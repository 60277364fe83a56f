//! The policy the worker enforces: an index over the API's snapshot, swapped atomically on
//! every change, persisted to disk so a worker restarted while the API is down still serves.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use moat_openapi::{PolicySnapshot, WorkerDomain, WorkerRecipient};
use uuid::Uuid;

use crate::api::ApiClient;
use crate::spool::write_atomically;

/// Lookups over one snapshot.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    pub version: i64,
    domains: HashMap<String, WorkerDomain>,
    recipients: HashMap<String, WorkerRecipient>,
    relay_networks: Vec<(IpNet, Uuid)>,
    policies: HashMap<Uuid, moat_openapi::Policy>,
    /// False until a snapshot was loaded (from the API or disk).
    pub loaded: bool,
}

impl PolicyIndex {
    pub fn new(snapshot: &PolicySnapshot) -> PolicyIndex {
        PolicyIndex {
            version: snapshot.version,
            domains: snapshot.domains.iter().map(|d| (d.name.to_lowercase(), d.clone())).collect(),
            recipients: snapshot.recipients.iter().map(|r| (r.email.to_lowercase(), r.clone())).collect(),
            relay_networks: snapshot
                .relay_networks
                .iter()
                .filter_map(|n| n.cidr.parse::<IpNet>().ok().map(|net| (net, n.org_id)))
                .collect(),
            policies: snapshot.policies.iter().map(|p| (p.org_id, p.policy.clone())).collect(),
            loaded: true,
        }
    }

    /// A customer domain by exact (lower-case, no trailing dot) name.
    pub fn domain(&self, name: &str) -> Option<&WorkerDomain> {
        self.domains.get(name)
    }

    pub fn recipient(&self, address: &str) -> Option<&WorkerRecipient> {
        self.recipients.get(address)
    }

    /// An organisation's filtering policy, when it saved one.
    pub fn org_policy(&self, org: Uuid) -> Option<&moat_openapi::Policy> {
        self.policies.get(&org)
    }

    /// The organisation whose outbound servers include `ip`, if any.
    pub fn relay_org(&self, ip: IpAddr) -> Option<Uuid> {
        self.relay_networks.iter().find(|(net, _)| net.contains(&ip)).map(|(_, org)| *org)
    }
}

/// The current index, shared by every session.
#[derive(Clone, Default)]
pub struct Policy {
    current: Arc<RwLock<Arc<PolicyIndex>>>,
}

impl Policy {
    pub fn get(&self) -> Arc<PolicyIndex> {
        self.current.read().map(|g| g.clone()).unwrap_or_default()
    }

    fn set(&self, index: PolicyIndex) {
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(index);
        }
    }
}

/// Keeps `policy` in step with the API: the persisted snapshot first (if any), then the
/// API's, then every change by long-poll. Never returns.
pub async fn sync(policy: Policy, api: ApiClient, path: PathBuf) {
    if let Some(snapshot) = load(&path) {
        tracing::info!(version = snapshot.version, "policy loaded from disk");
        policy.set(PolicyIndex::new(&snapshot));
    }
    let mut backoff = Duration::from_millis(250);
    loop {
        let since = if policy.get().loaded { policy.get().version } else { -1 };
        let result = if since < 0 { api.policy().await.map(Some) } else { api.policy_changes(since, 25).await };
        match result {
            Ok(Some(snapshot)) => {
                backoff = Duration::from_millis(250);
                tracing::info!(version = snapshot.version, domains = snapshot.domains.len(), "policy updated");
                save(&path, &snapshot);
                policy.set(PolicyIndex::new(&snapshot));
            }
            Ok(None) => backoff = Duration::from_millis(250),
            Err(err) => {
                tracing::warn!(%err, "policy sync failed; serving the last snapshot");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn load(path: &Path) -> Option<PolicySnapshot> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn save(path: &Path, snapshot: &PolicySnapshot) {
    match serde_json::to_vec(snapshot) {
        Ok(bytes) => {
            if let Err(err) = write_atomically(path, &bytes) {
                tracing::warn!(%err, "cannot persist the policy snapshot");
            }
        }
        Err(err) => tracing::warn!(%err, "cannot encode the policy snapshot"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_openapi::{RelayNetwork, TlsMode};

    #[test]
    fn index_finds_domains_recipients_and_relay_networks() {
        let org = Uuid::new_v4();
        let snapshot = PolicySnapshot {
            version: 7,
            domains: vec![WorkerDomain {
                id: Uuid::new_v4(),
                org_id: org,
                name: "example.test".into(),
                destination_host: "127.0.0.1".into(),
                destination_port: 25,
                tls_mode: TlsMode::None,
                inbound_enabled: true,
                outbound_enabled: true,
            }],
            recipients: vec![WorkerRecipient {
                user_id: Uuid::new_v4(),
                org_id: org,
                email: "ann@example.test".into(),
            }],
            relay_networks: vec![RelayNetwork { org_id: org, cidr: "192.0.2.0/24".into() }],
            policies: vec![],
        };
        let index = PolicyIndex::new(&snapshot);
        assert!(index.domain("example.test").is_some());
        assert!(index.domain("other.test").is_none());
        assert!(index.recipient("ann@example.test").is_some());
        assert_eq!(index.relay_org("192.0.2.77".parse().unwrap()), Some(org));
        assert_eq!(index.relay_org("198.51.100.1".parse().unwrap()), None);
    }
}
