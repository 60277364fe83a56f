//! Back-scatter protection: bounces are accepted only for mail Moat sent, known by a BATV
//! tag on the recipient or by a Message-ID this node relayed.

use crate::envelope::routing::AcceptedRcpt;
use crate::policy::PolicyIndex;

/// The Message-IDs this node relayed outbound (an untagged bounce must quote one).
pub type RelayedIds = moka::sync::Cache<String, ()>;

/// The set of relayed Message-IDs: at most a million, each kept a week (bounces come
/// within the senders' queue lifetimes).
pub fn relayed_message_ids() -> RelayedIds {
    moka::sync::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(std::time::Duration::from_secs(7 * 24 * 3600))
        .build()
}

/// Back-scatter protection: a bounce (null sender) to a user must answer mail Moat sent —
/// either through a BATV-tagged recipient, or by quoting a Message-ID this node relayed
/// outbound. Answers the refusal, if any.
pub fn backscatter(
    policy: &PolicyIndex,
    sender: &str,
    rcpts: &[AcceptedRcpt],
    sent: &RelayedIds,
    raw: &[u8],
) -> Option<String> {
    if !sender.is_empty() {
        return None;
    }
    let protected = |r: &AcceptedRcpt| r.inbound && !r.tagged_bounce && r.policy(policy).backscatter_protection;
    if !rcpts.iter().any(protected) {
        return None;
    }
    let text = String::from_utf8_lossy(raw);
    let quotes_ours = text.lines().filter_map(|l| {
        let lower = l.to_ascii_lowercase();
        let at = lower.find("message-id:")?;
        let value = l[at + "message-id:".len()..].trim();
        Some(value.trim_matches(|c| c == '<' || c == '>').to_string())
    });
    let mut quotes_ours = quotes_ours;
    if quotes_ours.any(|id| sent.contains_key(&id)) {
        return None;
    }
    Some("Bounce for a message we never sent (back-scatter) refused".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::routing::Target;
    use moat_openapi::{OrgPolicy, Policy, PolicySnapshot, TlsMode, WorkerDomain};
    use uuid::Uuid;

    fn index(domain_policy: Option<Policy>) -> (PolicyIndex, Uuid) {
        let org = Uuid::new_v4();
        let domain = |name: &str, policy| WorkerDomain {
            id: Uuid::new_v4(),
            org_id: org,
            name: name.into(),
            destination_host: "127.0.0.1".into(),
            destination_port: 25,
            tls_mode: TlsMode::None,
            inbound_enabled: true,
            outbound_enabled: true,
            policy,
            queue_expiry_days: None,
            retry_requested_at: None,
        };
        let snapshot = PolicySnapshot {
            version: 1,
            domains: vec![domain("own.test", domain_policy), domain("plain.test", None)],
            recipients: vec![],
            relay_networks: vec![],
            policies: vec![OrgPolicy {
                org_id: org,
                policy: Policy { backscatter_protection: true, ..Policy::default() },
            }],
            orgs: vec![],
            lists: vec![],
            correspondents: vec![],
            limits: None,
            blocked_senders: vec![],
            node_hostnames: vec![],
        };
        (PolicyIndex::new(&snapshot), org)
    }

    fn rcpt(org: Uuid, domain: &str) -> AcceptedRcpt {
        AcceptedRcpt {
            address: format!("ann@{domain}"),
            org_id: Some(org),
            user_id: None,
            domain_id: None,
            target: Target::Customer { domain: domain.into(), host: "127.0.0.1".into(), port: 25, tls: TlsMode::None },
            inbound: true,
            lists: Default::default(),
            correspondent: false,
            dropped: false,
            tagged_bounce: false,
        }
    }

    #[test]
    fn a_domain_that_switches_protection_off_takes_bounces_its_organisation_would_refuse() {
        let (policy, org) = index(Some(Policy { backscatter_protection: false, ..Policy::default() }));
        let sent = relayed_message_ids();
        let bounce = b"From: MAILER-DAEMON@far.test\r\n\r\nDelivery failed\r\n";
        assert!(backscatter(&policy, "", &[rcpt(org, "own.test")], &sent, bounce).is_none());
        assert!(backscatter(&policy, "", &[rcpt(org, "plain.test")], &sent, bounce).is_some());
        assert!(backscatter(&policy, "someone@far.test", &[rcpt(org, "plain.test")], &sent, bounce).is_none());
    }
}
