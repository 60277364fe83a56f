//! The mail the platform itself sends (activation, password reset, later digests and
//! alerts), with its delivery state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The way system mail leaves the platform.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SystemMailVia {
    /// The SMTP relay named by `MOAT_SMTP_RELAY`.
    #[default]
    Relay,
    /// A job on the worker channel: a Moat worker delivers it.
    Worker,
}

/// Where a system mail is on its way out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SystemMailStatus {
    /// Waiting to be sent (or for its next attempt after a temporary failure).
    #[default]
    Pending,
    /// Handed to a worker, which delivers it with its own queue, retries and DSNs.
    WithWorker,
    /// Accepted by the SMTP relay, or queued for delivery by a worker.
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
    /// False when no delivery path is configured (`MOAT_SMTP_RELAY`, or
    /// `MOAT_SYSTEM_MAIL_VIA=worker`): mail waits until one is.
    pub delivery_configured: bool,
    /// Which way system mail leaves.
    pub via: SystemMailVia,
    pub pending: i64,
    pub failed: i64,
}

/// A page of system mail.
pub type SystemMailList = crate::Page<SystemMailItem>;
