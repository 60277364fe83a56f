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
    let protected = |r: &AcceptedRcpt| {
        r.inbound
            && !r.tagged_bounce
            && r.org_id.and_then(|o| policy.org_policy(o).map(|p| p.backscatter_protection)).unwrap_or(true)
    };
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
