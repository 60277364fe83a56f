//! Alerts: what an organisation's admins must look at (an account over its sending limits),
//! as workers raise them and admins list and clear them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What an alert is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A sender address went over one of its organisation's outbound limits.
    OutboundLimit,
    /// The organisation as a whole went over its outbound limits.
    OrgOutboundLimit,
    /// A sender's hourly volume jumped far above its usual (a compromised mailbox?).
    VolumeJump,
}

/// An alert a worker raises.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RaisedAlert {
    pub org_id: Uuid,
    pub kind: AlertKind,
    /// Whom it is about (a sender address; the organisation's name for organisation limits).
    pub subject: String,
    /// What happened, for people ("101 messages in the last hour, the limit is 100").
    pub detail: String,
    /// The subject may not send again until an admin clears the alert.
    pub blocks: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertBatch {
    pub alerts: Vec<RaisedAlert>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Alert {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: AlertKind,
    pub subject: String,
    pub detail: String,
    pub blocks: bool,
    pub raised_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub cleared_by: Option<String>,
}

pub type AlertList = crate::Page<Alert>;

/// `GET /alerts` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub org_id: Option<Uuid>,
    /// Only alerts not cleared yet.
    pub open: Option<bool>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A sender that may not send until an admin clears its alert (in the worker snapshot).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BlockedSender {
    pub org_id: Uuid,
    /// Lower-case address; the organisation's whole outbound when empty.
    pub address: String,
}
