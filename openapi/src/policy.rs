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
        }
    }
}
