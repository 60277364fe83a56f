//! IP reputation: what this node has seen of each client IP and its network (/24, /64),
//! merged with what every other node has seen (through the API), and the greeting delay
//! that follows from it: none for IPs with a good history, a random short one for unknown
//! IPs, long and growing ones for IPs that misbehaved. Every map is bounded: a flood of new
//! addresses evicts the least used records, never grows memory without limit.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use ipnet::IpNet;
use moat_openapi::IpReputation;
use rand::Rng;

use crate::common::config::WorkerConfig;
use crate::upstream::client::ApiClient;

/// How an IP is treated at the greeting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    Good,
    Unknown,
    /// Bad, with the number of offences on record.
    Bad(i64),
}

/// Most clients (addresses and networks) remembered, locally and from the other nodes.
const MAX_CLIENTS: u64 = 500_000;
/// A client not seen for this long is forgotten (the API keeps the shared history).
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct Reputation {
    /// This node's own counters (what it pushes).
    local: moka::sync::Cache<String, IpReputation>,
    /// Everyone's counters, summed by the API.
    shared: moka::sync::Cache<String, IpReputation>,
    /// Keys changed since the last push (never more than `MAX_CLIENTS`).
    dirty: Mutex<HashSet<String>>,
    cursor: AtomicI64,
}

impl Default for Reputation {
    fn default() -> Self {
        let cache = || moka::sync::Cache::builder().max_capacity(MAX_CLIENTS).time_to_idle(FORGET_AFTER).build();
        Reputation { local: cache(), shared: cache(), dirty: Mutex::default(), cursor: AtomicI64::new(0) }
    }
}

/// Most entries one push carries: after an API outage the dirty set can be large, and one
/// request must stay well inside the API's body limit.
const PUSH_CHUNK: usize = 1000;

/// The keys a client counts under: itself (for IPv6 its /64, which one host is usually
/// given whole) and its network (/24, /48).
fn keys(ip: IpAddr) -> [String; 2] {
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    let net = IpNet::new(ip, prefix).map(|n| n.trunc().to_string()).unwrap_or_default();
    let me = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(_) => IpNet::new(ip, 64).map(|n| n.trunc().to_string()).unwrap_or_default(),
    };
    [me, net]
}

impl Reputation {
    /// Applies `change` to this node's record of `ip` (and, with `network`, of its network).
    pub fn record(&self, ip: IpAddr, network: bool, change: impl Fn(&mut IpReputation)) {
        let now = Utc::now();
        for (i, key) in keys(ip).into_iter().enumerate() {
            if i == 1 && !network {
                break;
            }
            self.local.entry(key.clone()).and_upsert_with(|old| {
                let mut entry = old.map(|e| e.into_value()).unwrap_or_else(|| IpReputation {
                    ip: key.clone(),
                    first_seen: Some(now),
                    ..Default::default()
                });
                change(&mut entry);
                entry.last_seen = Some(now);
                entry
            });
            let mut dirty = self.dirty.lock().expect("reputation lock");
            if (dirty.len() as u64) < MAX_CLIENTS {
                dirty.insert(key);
            }
        }
    }

    /// The combined view of one key: the larger of our own and the shared counters.
    fn view(&self, key: &str) -> IpReputation {
        let local = self.local.get(key).unwrap_or_default();
        let shared = self.shared.get(key).unwrap_or_default();
        IpReputation {
            ip: key.to_string(),
            connections: local.connections.max(shared.connections),
            messages: local.messages.max(shared.messages),
            rejected: local.rejected.max(shared.rejected),
            early_talks: local.early_talks.max(shared.early_talks),
            dnsbl_hits: local.dnsbl_hits.max(shared.dnsbl_hits),
            penalty_until: local.penalty_until.max(shared.penalty_until),
            first_seen: local.first_seen.or(shared.first_seen),
            last_seen: local.last_seen.max(shared.last_seen),
        }
    }

    pub fn standing(&self, ip: IpAddr, config: &WorkerConfig) -> Standing {
        let [addr, net] = keys(ip);
        let (me, network) = (self.view(&addr), self.view(&net));
        let now = Utc::now();
        let active = |r: &IpReputation| r.penalty_until.is_some_and(|t| t > now);
        if active(&me) {
            return Standing::Bad(me.early_talks.max(1));
        }
        // One bad host does not tarpit its neighbours; several in one network do.
        if active(&network) && network.early_talks >= config.network_penalty_offences {
            return Standing::Bad(1);
        }
        let clean = me.early_talks == 0 && me.rejected * 10 < me.messages.max(1);
        if me.messages >= config.good_history_messages && clean {
            return Standing::Good;
        }
        Standing::Unknown
    }

    /// The greeting delay for an IP of this standing.
    pub fn delay(standing: Standing, config: &WorkerConfig) -> Duration {
        match standing {
            Standing::Good => Duration::ZERO,
            Standing::Unknown => {
                let max = config.tarpit_unknown_max_ms.max(1);
                let min = config.tarpit_unknown_min_ms.min(max - 1);
                Duration::from_millis(rand::thread_rng().gen_range(min..max))
            }
            Standing::Bad(offences) => {
                let factor = 1u64 << (offences.clamp(1, 8) - 1);
                Duration::from_millis(
                    (config.tarpit_bad_delay_ms.saturating_mul(factor)).min(config.tarpit_max_delay_ms),
                )
            }
        }
    }

    /// Marks an IP as an early talker: its next connections wait longer.
    pub fn early_talker(&self, ip: IpAddr, config: &WorkerConfig) {
        let until = Utc::now() + chrono::Duration::seconds(config.early_talker_penalty_secs as i64);
        self.record(ip, true, |r| {
            r.early_talks += 1;
            r.penalty_until = Some(until);
        });
    }

    /// Pushes our changed counters and pulls everyone's, forever.
    pub async fn sync(&self, api: ApiClient, every: Duration) {
        loop {
            let dirty: Vec<String> = self.dirty.lock().expect("reputation lock").drain().collect();
            if !dirty.is_empty() {
                let entries: Vec<IpReputation> = dirty.iter().filter_map(|k| self.local.get(k)).collect();
                for (n, chunk) in entries.chunks(PUSH_CHUNK).enumerate() {
                    if let Err(err) = api.push_reputation(chunk).await {
                        tracing::debug!(%err, "cannot push reputation; will retry");
                        let unsent = entries[n * PUSH_CHUNK..].iter().map(|e| e.ip.clone());
                        self.dirty.lock().expect("reputation lock").extend(unsent);
                        break;
                    }
                }
            }
            match api.pull_reputation(self.cursor.load(Ordering::Relaxed)).await {
                Ok(changes) => {
                    for e in changes.entries {
                        self.shared.insert(e.ip.clone(), e);
                    }
                    self.cursor.store(changes.cursor, Ordering::Relaxed);
                }
                Err(err) => tracing::debug!(%err, "cannot pull reputation"),
            }
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_talkers_wait_longer_and_good_history_waits_not() {
        let config = WorkerConfig { good_history_messages: 3, ..WorkerConfig::default() };
        let rep = Reputation::default();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(rep.standing(ip, &config), Standing::Unknown);
        assert!(Reputation::delay(Standing::Unknown, &config) < Duration::from_millis(config.tarpit_unknown_max_ms));
        rep.record(ip, true, |r| r.messages += 3);
        assert_eq!(rep.standing(ip, &config), Standing::Good);
        assert_eq!(Reputation::delay(Standing::Good, &config), Duration::ZERO);
        // One neighbour in the same /24 talking early does not penalise the network; three do.
        rep.early_talker("192.0.2.99".parse().unwrap(), &config);
        assert_eq!(rep.standing(ip, &config), Standing::Good);
        assert_eq!(rep.standing("192.0.2.99".parse().unwrap(), &config), Standing::Bad(1));
        rep.early_talker("192.0.2.98".parse().unwrap(), &config);
        rep.early_talker("192.0.2.97".parse().unwrap(), &config);
        assert_eq!(rep.standing(ip, &config), Standing::Bad(1));
        assert!(Reputation::delay(Standing::Bad(2), &config) > Reputation::delay(Standing::Bad(1), &config));
        assert!(Reputation::delay(Standing::Bad(50), &config) <= Duration::from_millis(config.tarpit_max_delay_ms));
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let config = WorkerConfig::default();
        let rep = Reputation::default();
        rep.early_talker("2001:db8:1:2::1".parse().unwrap(), &config);
        // Another address of the same /64 is the same client; another /64 is not.
        assert_eq!(rep.standing("2001:db8:1:2:ffff::9".parse().unwrap(), &config), Standing::Bad(1));
        assert_eq!(rep.standing("2001:db8:1:3::1".parse().unwrap(), &config), Standing::Unknown);
        assert_eq!(
            keys("2001:db8:1:2::1".parse().unwrap()),
            ["2001:db8:1:2::/64".to_string(), "2001:db8:1::/48".into()]
        );
    }
}
