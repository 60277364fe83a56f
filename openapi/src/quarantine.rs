//! Quarantine: messages the filter held back, as users and admins review them, and as the
//! worker hands them to the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One quarantined message (the fixed minimal payload of `GET /quarantine` items).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QuarantineItem {
    pub id: String,
    pub subject: String,
    pub sender: String,
    pub recipient: String,
    pub score: f64,
    pub reasons: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub reviewed: bool,
    pub org_id: Uuid,
    pub user_id: Option<Uuid>,
    pub size: i64,
}

/// A page of `QuarantineItem`.
pub type QuarantineList = crate::Page<QuarantineItem>;

/// Quarantine search.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    /// Substring of sender, recipient or subject.
    pub q: Option<String>,
    pub user_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    pub reviewed: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A worker hands over one quarantined copy (one per recipient); idempotent by `id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineUpload {
    pub id: String,
    pub org_id: Uuid,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    pub sender: String,
    pub subject: String,
    #[serde(default)]
    pub message_id: String,
    pub score: f64,
    pub reasons: Vec<String>,
    pub received_at: DateTime<Utc>,
    /// The raw message, base64 (standard alphabet).
    pub raw_base64: String,
}
