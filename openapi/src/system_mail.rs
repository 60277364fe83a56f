//! The mail the platform itself sends (activation, password reset, later digests and
//! alerts), with its delivery state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a system mail is on its way out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SystemMailStatus {
    /// Waiting to be sent (or for its next attempt after a temporary failure).
    #[default]
    Pending,
    /// Accepted by the SMTP relay.
    Sent,
    /// Refused for good, or still failing after every retry.
    Failed,
}

/// One system mail, as an admin sees it (the body is not shown: it carries links with
/// tokens).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SystemMailItem {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub status: SystemMailStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending mail only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// How the platform's mail leaves, and how much of it waits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SystemMailState {
    /// False when no delivery path is configured (`MOAT_SMTP_RELAY`): mail waits until one is.
    pub delivery_configured: bool,
    pub pending: i64,
    pub failed: i64,
}

/// A page of system mail.
pub type SystemMailList = crate::Page<SystemMailItem>;
