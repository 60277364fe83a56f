//! The policy the worker enforces: an index over the API's snapshot, swapped atomically on
//! every change (kept current by the upstream policy sync).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use moat_openapi::{ListKind, ListLevel, PolicySnapshot, WorkerDomain, WorkerRecipient};
use uuid::Uuid;

use lists::{ListOutcome, ListPattern, Pattern};

pub mod lists;

/// Why a relay client may not send a message as this sender.
#[derive(Debug, Clone, PartialEq)]
pub enum SenderRefusal {
    /// The sender's domain is not one of the relaying organisation's.
    NotOurDomain,
    /// The domain is the organisation's, but its outbound switch is off.
    OutboundOff(String),
}

impl std::fmt::Display for SenderRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SenderRefusal::NotOurDomain => {
                f.write_str("your server may send only as addresses of its organisation's own domains")
            }
            SenderRefusal::OutboundOff(domain) => write!(f, "outbound mail is switched off for {domain}"),
        }
    }
}

/// Lookups over one snapshot.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    pub version: i64,
    domains: HashMap<String, WorkerDomain>,
    recipients: HashMap<String, WorkerRecipient>,
    relay_networks: Vec<(IpNet, Uuid)>,
    policies: HashMap<Uuid, moat_openapi::Policy>,
    org_msp: HashMap<Uuid, Uuid>,
    /// List entries by (level, scope id).
    lists: HashMap<(ListLevel, Option<Uuid>), Vec<ListPattern>>,
    /// Reverse whitelist: (user, external address) pairs.
    correspondents: std::collections::HashSet<(Uuid, String)>,
    /// Senders that may not send until an admin clears their alert ("": the organisation).
    blocked_senders: std::collections::HashSet<(Uuid, String)>,
    /// Host names of every registered node (lower case, no trailing dot).
    node_hostnames: std::collections::HashSet<String>,
    /// What the API accepts from workers (none from an older API).
    pub limits: Option<moat_openapi::ChannelLimits>,
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
            org_msp: snapshot.orgs.iter().map(|o| (o.id, o.msp_id)).collect(),
            correspondents: snapshot.correspondents.iter().map(|c| (c.user_id, c.address.to_lowercase())).collect(),
            lists: snapshot.lists.iter().fold(HashMap::new(), |mut map, e| {
                map.entry((e.scope.level, e.scope.id))
                    .or_insert_with(Vec::new)
                    .push((e.kind, Pattern::parse(&e.pattern)));
                map
            }),
            blocked_senders: snapshot.blocked_senders.iter().map(|b| (b.org_id, b.address.to_lowercase())).collect(),
            node_hostnames: snapshot
                .node_hostnames
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            limits: snapshot.limits,
            loaded: true,
        }
    }

    /// A customer domain by exact (lower-case, no trailing dot) name.
    pub fn domain(&self, name: &str) -> Option<&WorkerDomain> {
        self.domains.get(name)
    }

    /// The domains an admin asked to retry now, with when.
    pub fn retry_requests(&self) -> impl Iterator<Item = (&str, chrono::DateTime<chrono::Utc>)> {
        self.domains.iter().filter_map(|(name, d)| Some((name.as_str(), d.retry_requested_at?)))
    }

    pub fn recipient(&self, address: &str) -> Option<&WorkerRecipient> {
        self.recipients.get(address)
    }

    /// An organisation's filtering policy, when it saved one.
    pub fn org_policy(&self, org: Uuid) -> Option<&moat_openapi::Policy> {
        self.policies.get(&org)
    }

    /// The policy that governs mail to a domain: the domain's own when it has one, else its
    /// organisation's, else the defaults.
    pub fn effective_policy(&self, domain: &str, org: Option<Uuid>) -> &moat_openapi::Policy {
        static DEFAULT: std::sync::LazyLock<moat_openapi::Policy> = std::sync::LazyLock::new(Default::default);
        self.domain(domain)
            .and_then(|d| d.policy.as_ref())
            .or_else(|| org.and_then(|o| self.org_policy(o)))
            .unwrap_or(&DEFAULT)
    }

    /// What the lists say of mail from `sender` at `ip` to a recipient (user, domain, org):
    /// the most specific level with a matching entry decides; within a level, block wins.
    /// Both decisions of [`ListOutcome`] come from one pass: with every entry, and without
    /// address and domain allow entries (for a sender not known to be genuine).
    pub fn list_outcome(
        &self,
        user: Option<Uuid>,
        domain: Option<Uuid>,
        org: Option<Uuid>,
        sender: &str,
        ip: IpAddr,
    ) -> ListOutcome {
        let msp = org.and_then(|o| self.org_msp.get(&o).copied());
        let levels = [
            (ListLevel::User, user),
            (ListLevel::Domain, domain),
            (ListLevel::Org, org),
            (ListLevel::Msp, msp),
            (ListLevel::Global, None),
        ];
        let sender = sender.to_lowercase();
        let sender_domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let mut outcome = ListOutcome::default();
        for (level, id) in levels {
            if level != ListLevel::Global && id.is_none() {
                continue;
            }
            let Some(entries) = self.lists.get(&(level, id)) else { continue };
            let (mut block, mut sender_allow, mut network_allow) = (false, false, false);
            for (kind, pattern) in entries.iter().filter(|(_, p)| p.matches(&sender, sender_domain, ip)) {
                match kind {
                    ListKind::Block => block = true,
                    ListKind::Allow if pattern.is_sender() => sender_allow = true,
                    ListKind::Allow => network_allow = true,
                }
            }
            let decide = |allow: bool| match (block, allow) {
                (true, _) => Some((ListKind::Block, level)),
                (false, true) => Some((ListKind::Allow, level)),
                (false, false) => None,
            };
            outcome.authenticated = outcome.authenticated.or(decide(sender_allow || network_allow));
            outcome.unauthenticated = outcome.unauthenticated.or(decide(network_allow));
            if outcome.unauthenticated.is_some() {
                break;
            }
        }
        outcome
    }

    /// Whether an open blocking alert stops `sender` (lower-case) of `org` from sending.
    pub fn sending_blocked(&self, org: Uuid, sender: &str) -> bool {
        !self.blocked_senders.is_empty()
            && (self.blocked_senders.contains(&(org, String::new()))
                || self.blocked_senders.contains(&(org, sender.to_string())))
    }

    /// Whether `host` is a registered Moat node.
    pub fn is_node(&self, host: &str) -> bool {
        self.node_hostnames.contains(host)
    }

    /// Whether `user` wrote to `address` recently (reverse whitelist).
    pub fn is_correspondent(&self, user: Uuid, address: &str) -> bool {
        self.correspondents.contains(&(user, address.to_lowercase()))
    }

    /// The organisation a relay client sends for, bound by the sender: `Ok(None)` when `ip`
    /// is no organisation's relay server; `Ok(Some(org))` when `sender` is on a domain of an
    /// organisation listing `ip` whose outbound switch is on (a null sender, a bounce from the
    /// customer's server, counts for the first organisation listing `ip`). Matching is per
    /// organisation: two tenants may list the same shared server, each sends only as itself.
    pub fn sending_org(&self, ip: IpAddr, sender: &str) -> Result<Option<Uuid>, SenderRefusal> {
        let mut orgs = self.relay_networks.iter().filter(|(net, _)| net.contains(&ip)).map(|(_, org)| *org).peekable();
        let Some(first) = orgs.peek().copied() else { return Ok(None) };
        if sender.is_empty() {
            return Ok(Some(first));
        }
        self.outbound_domain(sender, &orgs.collect::<Vec<_>>()).map(Some)
    }

    /// The organisation among `orgs` owning the domain of `address`, with outbound on.
    pub fn outbound_domain(&self, address: &str, orgs: &[Uuid]) -> Result<Uuid, SenderRefusal> {
        let domain = address.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.').to_lowercase()).unwrap_or_default();
        match self.domain(&domain) {
            Some(d) if orgs.contains(&d.org_id) && d.outbound_enabled => Ok(d.org_id),
            Some(d) if orgs.contains(&d.org_id) => Err(SenderRefusal::OutboundOff(d.name.clone())),
            _ => Err(SenderRefusal::NotOurDomain),
        }
    }

    /// The largest message this worker may accept: its own limit, or less when the API
    /// takes less, as a message or as an upload (base64 with room for its metadata); room is
    /// kept for the headers the worker adds.
    pub fn max_message_size(&self, own: usize) -> usize {
        const STAMP_ROOM: u64 = 64 * 1024;
        const METADATA_ROOM: u64 = 1024 * 1024;
        match self.limits {
            Some(l) => {
                let as_upload = l.max_upload_bytes.saturating_sub(METADATA_ROOM) / 4 * 3;
                own.min(l.max_message_bytes.min(as_upload).saturating_sub(STAMP_ROOM) as usize)
            }
            None => own,
        }
    }

    /// The most encoded bytes one event batch may carry: `own`, or half of what the API takes
    /// when that is less (an event line can pass the cut before it is noticed).
    pub fn event_batch_bytes(&self, own: usize) -> usize {
        match self.limits {
            Some(l) => own.min((l.max_event_batch_bytes / 2) as usize).max(1),
            None => own,
        }
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

    /// Puts `index` in force for every transaction that starts from now on.
    pub fn set(&self, index: PolicyIndex) {
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern_matches(pattern: &str, sender: &str, ip: IpAddr) -> bool {
        let sender = sender.to_lowercase();
        let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        Pattern::parse(pattern).matches(&sender, domain, ip)
    }

    #[test]
    fn list_patterns_match_addresses_domains_subdomains_and_networks() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(!pattern_matches("@.ext.test", "bob@mailext.test", ip), "a subdomain, not a suffix");
        assert!(pattern_matches("@.ext.test", "bob@ext.test", ip));
        assert_eq!(Pattern::parse("nonsense"), Pattern::Unknown);
        assert!(pattern_matches("ann@ext.test", "Ann@Ext.test", ip));
        assert!(!pattern_matches("ann@ext.test", "bob@ext.test", ip));
        assert!(pattern_matches("@ext.test", "bob@ext.test", ip));
        assert!(!pattern_matches("@ext.test", "bob@mail.ext.test", ip));
        assert!(pattern_matches("@.ext.test", "bob@mail.ext.test", ip));
        assert!(pattern_matches("192.0.2.0/24", "x@y.test", ip));
        assert!(!pattern_matches("198.51.100.0/24", "x@y.test", ip));
    }
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
                policy: None,
                queue_expiry_days: None,
                retry_requested_at: None,
            }],
            recipients: vec![WorkerRecipient {
                user_id: Uuid::new_v4(),
                org_id: org,
                email: "ann@example.test".into(),
            }],
            relay_networks: vec![RelayNetwork { org_id: org, cidr: "192.0.2.0/24".into() }],
            policies: vec![],
            orgs: vec![],
            lists: vec![],
            correspondents: vec![],
            limits: None,
            blocked_senders: vec![],
            node_hostnames: vec![],
        };
        let index = PolicyIndex::new(&snapshot);
        assert!(index.domain("example.test").is_some());
        assert!(index.domain("other.test").is_none());
        assert!(index.recipient("ann@example.test").is_some());
        let relay: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(index.sending_org(relay, "ann@example.test"), Ok(Some(org)));
        assert_eq!(index.sending_org(relay, "ann@Example.TEST"), Ok(Some(org)));
        assert_eq!(index.sending_org(relay, ""), Ok(Some(org)));
        assert_eq!(index.sending_org(relay, "ceo@bank.test"), Err(SenderRefusal::NotOurDomain));
        assert_eq!(index.sending_org("198.51.100.1".parse().unwrap(), "ann@example.test"), Ok(None));
    }

    #[test]
    fn the_apis_limits_bound_message_size_and_event_batches() {
        let limits = |message: u64, upload: u64, batch: u64| PolicyIndex {
            limits: Some(moat_openapi::ChannelLimits {
                max_message_bytes: message,
                max_upload_bytes: upload,
                max_event_batch_bytes: batch,
            }),
            ..Default::default()
        };
        let own = 25 << 20;
        assert_eq!(PolicyIndex::default().max_message_size(own), own, "an API without limits");
        assert_eq!(limits(10 << 20, 100 << 20, 8 << 20).max_message_size(own), (10 << 20) - 65536);
        // An upload limit of 2 MiB leaves 1 MiB of base64: 768 KiB of message.
        assert_eq!(limits(10 << 20, 2 << 20, 8 << 20).max_message_size(own), 786432 - 65536);
        assert_eq!(limits(10 << 20, 100 << 20, 8 << 20).event_batch_bytes(4 << 20), 4 << 20);
        assert_eq!(limits(10 << 20, 100 << 20, 1 << 20).event_batch_bytes(4 << 20), 512 << 10);
    }

    #[test]
    fn relay_clients_send_only_as_their_own_organisation() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let domain = |org: Uuid, name: &str, outbound: bool| WorkerDomain {
            id: Uuid::new_v4(),
            org_id: org,
            name: name.into(),
            destination_host: "192.0.2.1".into(),
            destination_port: 25,
            tls_mode: TlsMode::None,
            inbound_enabled: true,
            outbound_enabled: outbound,
            policy: None,
            queue_expiry_days: None,
            retry_requested_at: None,
        };
        let snapshot = PolicySnapshot {
            domains: vec![domain(a, "a.test", true), domain(a, "quiet.a.test", false), domain(b, "b.test", true)],
            // A shared server listed by both tenants.
            relay_networks: vec![
                RelayNetwork { org_id: a, cidr: "192.0.2.0/24".into() },
                RelayNetwork { org_id: b, cidr: "192.0.2.5/32".into() },
            ],
            ..Default::default()
        };
        let index = PolicyIndex::new(&snapshot);
        let shared: IpAddr = "192.0.2.5".parse().unwrap();
        let only_a: IpAddr = "192.0.2.6".parse().unwrap();
        assert_eq!(index.sending_org(shared, "x@a.test"), Ok(Some(a)));
        assert_eq!(index.sending_org(shared, "x@b.test"), Ok(Some(b)));
        assert_eq!(index.sending_org(only_a, "x@b.test"), Err(SenderRefusal::NotOurDomain));
        assert_eq!(index.sending_org(only_a, "x@quiet.a.test"), Err(SenderRefusal::OutboundOff("quiet.a.test".into())));
        assert_eq!(index.sending_org("198.51.100.1".parse().unwrap(), "x@a.test"), Ok(None));
    }

    #[test]
    fn sender_allow_entries_count_only_when_asked() {
        use moat_openapi::{ListEntry, ListScope};
        let org = Uuid::new_v4();
        let entry = |kind, pattern: &str| ListEntry {
            id: Uuid::new_v4(),
            scope: ListScope { level: ListLevel::Org, id: Some(org) },
            kind,
            pattern: pattern.into(),
            created_at: chrono::Utc::now(),
        };
        let snapshot = PolicySnapshot {
            lists: vec![entry(ListKind::Allow, "@bank.test"), entry(ListKind::Allow, "192.0.2.0/24")],
            ..Default::default()
        };
        let index = PolicyIndex::new(&snapshot);
        let (outside, inside): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "192.0.2.9".parse().unwrap());
        let outcome = index.list_outcome(None, None, Some(org), "x@bank.test", outside);
        assert_eq!(outcome.authenticated, Some((ListKind::Allow, ListLevel::Org)));
        assert_eq!(outcome.unauthenticated, None);
        let outcome = index.list_outcome(None, None, Some(org), "x@elsewhere.test", inside);
        assert_eq!(outcome.unauthenticated, Some((ListKind::Allow, ListLevel::Org)));
    }
}
