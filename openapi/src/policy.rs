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
    /// `quarantine` or `reject` for a blocked attachment.
    pub attachment_action: String,
    /// Also judge attachments by their content (a renamed `.exe` is still an `.exe`).
    pub sniff_attachments: bool,
    /// Refuse bounces for mail this organisation never sent.
    pub backscatter_protection: bool,
    pub greylisting: bool,
    /// `none`, `quarantine` or `reject` for DMARC failures.
    pub dmarc_action: String,
    /// Outbound messages per user per hour (0 = no limit).
    pub outbound_hourly_limit: u32,
    /// Days the Live Archive keeps mail.
    pub archive_retention_days: u32,
    /// `reject` (550 at RCPT) or `drop` (accept and discard) for block-listed senders.
    pub block_action: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quarantine_threshold: 5.0,
            reject_threshold: 15.0,
            blocked_extensions: ["exe", "scr", "pif", "com", "bat", "cmd", "js", "vbs", "jar", "msi"]
                .map(String::from)
                .to_vec(),
            attachment_action: "quarantine".into(),
            sniff_attachments: false,
            backscatter_protection: true,
            greylisting: false,
            dmarc_action: "quarantine".into(),
            outbound_hourly_limit: 0,
            archive_retention_days: 7,
            block_action: "reject".into(),
        }
    }
}
