//! Organisation policy: the filtering knobs an org admin sets (the worker applies them).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Filtering policy of an organisation. Every field has a default, so `{}` is valid.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Score at or above which mail is quarantined.
    pub quarantine_threshold: f64,
    /// Score at or above which mail is rejected.
    pub reject_threshold: f64,
    /// File extensions refused in attachments.
    pub blocked_extensions: Vec<String>,
    /// What a blocked attachment does to the message.
    pub attachment_action: AttachmentAction,
    /// Also judge attachments by their content (a renamed `.exe` is still an `.exe`).
    pub sniff_attachments: bool,
    /// Refuse bounces for mail this organisation never sent.
    pub backscatter_protection: bool,
    pub greylisting: bool,
    /// What a DMARC failure does, at most (the sender's published policy may ask for less).
    pub dmarc_action: DmarcAction,
    /// Messages a user may send from the Live Archive per hour (0: the platform's bound,
    /// 200). Not yet applied to mail the customer's own server relays.
    pub outbound_hourly_limit: u32,
    /// Days the Live Archive keeps mail (1 to 365).
    pub archive_retention_days: u32,
    /// Days quarantined mail is kept before it is purged (1 to 365).
    pub quarantine_retention_days: u32,
    /// What happens to mail from block-listed senders.
    pub block_action: BlockAction,
    /// Digest links only open the web app, where the user signs in before anything is
    /// released (otherwise the link's confirmation page releases without a login).
    pub secure_release: bool,
    /// What the organisation's users and the organisation as a whole may send through Moat.
    pub outbound: OutboundLimits,
    /// The largest message, in MiB, for this organisation's (or domain's) mail either way;
    /// 0 is the platform's limit (a larger value is held to it).
    pub max_message_size_mb: u32,
    /// What the organisation's users may send: content checks with an outbound quarantine.
    pub outbound_content: OutboundContentPolicy,
}

/// Content rules for mail the customer's own server relays out through Moat. Held mail
/// waits in the organisation's outbound quarantine, where only its admins may release it
/// (the sender may be a compromised mailbox).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundContentPolicy {
    /// Spam score at or above which outbound mail is held (0: outbound mail is not scored).
    pub quarantine_threshold: f64,
    /// Attachment extensions that hold an outbound message.
    pub blocked_extensions: Vec<String>,
    /// Domains (with their subdomains) the organisation's users may not write to: `550` at RCPT.
    pub blocked_recipient_domains: Vec<String>,
}

impl OutboundContentPolicy {
    /// Whether outbound mail must be parsed and judged at all.
    pub fn checks_content(&self) -> bool {
        self.quarantine_threshold > 0.0 || !self.blocked_extensions.is_empty()
    }

    /// The blocked entry `domain` (lower case) falls under, if any.
    pub fn blocked_recipient_domain(&self, domain: &str) -> Option<&str> {
        self.blocked_recipient_domains
            .iter()
            .find(|b| domain == b.as_str() || domain.strip_suffix(b.as_str()).is_some_and(|head| head.ends_with('.')))
            .map(String::as_str)
    }
}

/// Sending limits for mail the customer's own server relays through Moat (0: no limit).
/// Each worker counts what passes through it; an account over a limit raises an alert.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundLimits {
    /// Messages one sender address may send per hour.
    pub user_messages_per_hour: u32,
    /// Messages one sender address may send per day.
    pub user_messages_per_day: u32,
    /// Recipients one message may have.
    pub user_recipients_per_message: u32,
    /// Recipients one sender address may write to per day.
    pub user_recipients_per_day: u32,
    /// Messages the whole organisation may send per hour.
    pub org_messages_per_hour: u32,
    /// Messages the whole organisation may send per day.
    pub org_messages_per_day: u32,
    /// What happens to mail over a limit.
    pub action: OutboundLimitAction,
}

impl OutboundLimits {
    pub fn any(&self) -> bool {
        [
            self.user_messages_per_hour,
            self.user_messages_per_day,
            self.user_recipients_per_message,
            self.user_recipients_per_day,
            self.org_messages_per_hour,
            self.org_messages_per_day,
        ]
        .iter()
        .any(|&n| n > 0)
    }
}

/// What a sender over an outbound limit gets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutboundLimitAction {
    /// `451`: the customer's server keeps the mail and retries once the window has room.
    #[default]
    Defer,
    /// `550` from then on, on every worker, until an admin clears the alert.
    Block,
    /// The mail passes; only the alert is raised.
    AlertOnly,
}

/// What a blocked attachment does to the message.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentAction {
    /// Held in the recipients' quarantines.
    #[default]
    Quarantine,
    /// Refused with a 550 (when every copy is refused).
    Reject,
}

/// The most a DMARC failure may do: `reject` follows the published policy, `quarantine`
/// holds what it would reject, `none` only scores.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DmarcAction {
    None,
    #[default]
    Quarantine,
    Reject,
}

/// What happens to mail from block-listed senders.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BlockAction {
    /// 550 at RCPT.
    #[default]
    Reject,
    /// Accepted and discarded (the sender learns nothing).
    Drop,
}

impl Policy {
    /// The largest message this policy takes, in bytes, within the platform's `platform`.
    pub fn message_size_limit(&self, platform: usize) -> usize {
        match self.max_message_size_mb {
            0 => platform,
            mb => platform.min(mb as usize * 1024 * 1024),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quarantine_threshold: 5.0,
            reject_threshold: 15.0,
            blocked_extensions: ["exe", "scr", "pif", "com", "bat", "cmd", "js", "vbs", "jar", "msi"]
                .map(String::from)
                .to_vec(),
            attachment_action: AttachmentAction::Quarantine,
            sniff_attachments: false,
            backscatter_protection: true,
            greylisting: false,
            dmarc_action: DmarcAction::Quarantine,
            outbound_hourly_limit: 0,
            archive_retention_days: 7,
            quarantine_retention_days: 30,
            block_action: BlockAction::Reject,
            secure_release: false,
            outbound: OutboundLimits::default(),
            max_message_size_mb: 0,
            outbound_content: OutboundContentPolicy::default(),
        }
    }
}

/// What a domain sets itself; every field left out (or `null`) is inherited from its
/// organisation's policy. Retention, the Live Archive's send limit and secure release are
/// set per organisation only (they act on whole mailboxes and digests, not on one domain's
/// mail).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_extensions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_action: Option<AttachmentAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sniff_attachments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backscatter_protection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greylisting: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc_action: Option<DmarcAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_action: Option<BlockAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size_mb: Option<u32>,
}

impl PolicyOverrides {
    /// The fields a domain may set, by wire name (the others are the organisation's).
    pub const FIELDS: [&'static str; 10] = [
        "quarantine_threshold",
        "reject_threshold",
        "blocked_extensions",
        "attachment_action",
        "sniff_attachments",
        "backscatter_protection",
        "greylisting",
        "dmarc_action",
        "block_action",
        "max_message_size_mb",
    ];

    /// The policy that governs the domain: `base` (its organisation's) with these fields
    /// replaced.
    pub fn apply(&self, base: &Policy) -> Policy {
        let mut p = base.clone();
        if let Some(v) = self.quarantine_threshold {
            p.quarantine_threshold = v;
        }
        if let Some(v) = self.reject_threshold {
            p.reject_threshold = v;
        }
        if let Some(v) = &self.blocked_extensions {
            p.blocked_extensions = v.clone();
        }
        if let Some(v) = self.attachment_action {
            p.attachment_action = v;
        }
        if let Some(v) = self.sniff_attachments {
            p.sniff_attachments = v;
        }
        if let Some(v) = self.backscatter_protection {
            p.backscatter_protection = v;
        }
        if let Some(v) = self.greylisting {
            p.greylisting = v;
        }
        if let Some(v) = self.dmarc_action {
            p.dmarc_action = v;
        }
        if let Some(v) = self.block_action {
            p.block_action = v;
        }
        if let Some(v) = self.max_message_size_mb {
            p.max_message_size_mb = v;
        }
        p
    }

    /// Reads a stored override, keeping only the fields a domain may set (rows written
    /// before per-field inheritance hold a whole policy: each of its domain fields counts as
    /// set).
    pub fn from_stored(text: &str) -> Result<PolicyOverrides, serde_json::Error> {
        let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)?;
        map.retain(|k, _| Self::FIELDS.contains(&k.as_str()));
        serde_json::from_value(serde_json::Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_recipient_domain_covers_its_subdomains_only() {
        let rules =
            OutboundContentPolicy { blocked_recipient_domains: vec!["rival.test".into()], ..Default::default() };
        assert_eq!(rules.blocked_recipient_domain("rival.test"), Some("rival.test"));
        assert_eq!(rules.blocked_recipient_domain("mail.rival.test"), Some("rival.test"));
        assert_eq!(rules.blocked_recipient_domain("notrival.test"), None);
        assert_eq!(rules.blocked_recipient_domain("rival.test.example"), None);
        assert!(!rules.checks_content(), "a domain list alone needs no parse");
    }

    #[test]
    fn the_message_size_limit_stays_within_the_platforms() {
        let mut p = Policy::default();
        assert_eq!(p.message_size_limit(25 << 20), 25 << 20);
        p.max_message_size_mb = 2;
        assert_eq!(p.message_size_limit(25 << 20), 2 << 20);
        p.max_message_size_mb = 100;
        assert_eq!(p.message_size_limit(25 << 20), 25 << 20);
    }
}
