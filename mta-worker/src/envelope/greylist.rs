//! Greylisting: the first attempt of a (client network, sender, recipient) triplet is
//! deferred; a retry after the delay and within the retry window passes, and the triplet
//! is then remembered until it goes unused for the expiry (PMG-style 5 min / 2 days / 36 days).
//! The triplets live in a bounded cache: under a flood of new triplets the least used go
//! first, and memory stays put.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::common::config::WorkerConfig;

/// Most triplets remembered.
const MAX_TRIPLETS: u64 = 1_000_000;

#[derive(Clone, Copy)]
struct Entry {
    first_seen: DateTime<Utc>,
    passed_at: Option<DateTime<Utc>>,
}

pub struct Greylist {
    entries: moka::sync::Cache<(String, String, String), Entry>,
}

impl Greylist {
    /// Triplets unused for the configured expiry are forgotten.
    pub fn new(config: &WorkerConfig) -> Greylist {
        let idle = Duration::from_secs(config.greylist_expiry_secs.max(config.greylist_retry_window_secs).max(1));
        Greylist { entries: moka::sync::Cache::builder().max_capacity(MAX_TRIPLETS).time_to_idle(idle).build() }
    }

    /// `Ok` to accept, or `Err(wait)` with the time to wait before retrying.
    pub fn check(&self, ip: IpAddr, sender: &str, rcpt: &str, config: &WorkerConfig) -> Result<(), Duration> {
        let prefix = if ip.is_ipv4() { 24 } else { 64 };
        let net = IpNet::new(ip, prefix).map(|n| n.trunc().to_string()).unwrap_or_default();
        let key = (net, sender.to_lowercase(), rcpt.to_lowercase());
        let now = Utc::now();
        let secs = |s: u64| chrono::Duration::seconds(s as i64);
        let mut verdict = Ok(());
        // One atomic step per triplet: concurrent attempts see each other's state.
        self.entries.entry(key).and_upsert_with(|old| {
            let fresh = Entry { first_seen: now, passed_at: None };
            let mut entry = old.map(|e| e.into_value()).unwrap_or(fresh);
            if let Some(passed) = entry.passed_at {
                if now - passed <= secs(config.greylist_expiry_secs) {
                    entry.passed_at = Some(now);
                    return entry;
                }
                entry = fresh;
            }
            let waited = now - entry.first_seen;
            if waited > secs(config.greylist_retry_window_secs) {
                entry = fresh;
            } else if waited >= secs(config.greylist_delay_secs) {
                entry.passed_at = Some(now);
                return entry;
            }
            let left = secs(config.greylist_delay_secs) - (now - entry.first_seen);
            verdict = Err(left.to_std().unwrap_or_default());
            entry
        });
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_attempt_waits_and_a_timely_retry_passes() {
        let config = WorkerConfig { greylist_delay_secs: 0, ..WorkerConfig::default() };
        let list = Greylist::new(&config);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // With a zero delay the triplet passes at once; with the default it must wait.
        assert!(list.check(ip, "a@x.test", "b@y.test", &config).is_ok());
        let strict = WorkerConfig::default();
        let wait = list.check(ip, "c@x.test", "b@y.test", &strict).unwrap_err();
        assert!(wait <= Duration::from_secs(300) && wait > Duration::from_secs(290));
        assert!(
            list.check("192.0.2.77".parse().unwrap(), "c@x.test", "b@y.test", &strict).is_err(),
            "same /24, still waiting"
        );
    }
}
