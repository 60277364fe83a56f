//! Allow/block list entries as the worker matches them: parsed once, when a snapshot
//! arrives, into typed patterns.

use std::net::IpAddr;

use ipnet::IpNet;
use moat_openapi::{ListKind, ListLevel};

/// One list entry as the worker matches it, parsed when the snapshot arrives.
pub type ListPattern = (ListKind, Pattern);

/// A list pattern: `user@domain`, `@domain`, `@.domain` (and its subdomains) or an IP/CIDR.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Address(String),
    Domain(String),
    /// The domain and every subdomain of it.
    Subdomains(String),
    Network(IpNet),
    /// Not understood (the API validates patterns, so only a newer API could send one).
    Unknown,
}

impl Pattern {
    pub fn parse(pattern: &str) -> Pattern {
        let pattern = pattern.trim().to_lowercase();
        if let Some(domain) = pattern.strip_prefix("@.") {
            return Pattern::Subdomains(domain.to_string());
        }
        if let Some(domain) = pattern.strip_prefix('@') {
            return Pattern::Domain(domain.to_string());
        }
        if pattern.contains('@') {
            return Pattern::Address(pattern);
        }
        pattern.parse::<IpNet>().map(Pattern::Network).unwrap_or(Pattern::Unknown)
    }

    /// Whether it names senders (addresses, domains) rather than networks.
    pub fn is_sender(&self) -> bool {
        matches!(self, Pattern::Address(_) | Pattern::Domain(_) | Pattern::Subdomains(_))
    }

    /// Whether it matches a sender (lower case) and its domain, or the client's address.
    pub fn matches(&self, sender: &str, sender_domain: &str, ip: IpAddr) -> bool {
        match self {
            Pattern::Address(address) => sender == address,
            Pattern::Domain(domain) => sender_domain == domain,
            Pattern::Subdomains(domain) => {
                sender_domain == domain
                    || sender_domain.strip_suffix(domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
            }
            Pattern::Network(net) => net.contains(&ip),
            Pattern::Unknown => false,
        }
    }
}

/// A list decision: the kind of the deciding entry and its level.
pub type ListHit = (ListKind, ListLevel);

/// What the lists say of one recipient, both ways: sender entries (addresses, domains) are
/// only believed for an authenticated sender, which is known after DATA, so RCPT records
/// both decisions and DATA picks one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ListOutcome {
    /// Counting every entry: the decision for an authenticated sender.
    pub authenticated: Option<ListHit>,
    /// Counting block entries and IP/CIDR allow entries only.
    pub unauthenticated: Option<ListHit>,
}
