//! What worker nodes share through the API beside the policy and events: IP reputation
//! and outbound sending counts, each node's own absolute counters, summed by readers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One IP's (or network's) reputation: what every node has seen of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IpReputation {
    /// An address, or a network in CIDR form (`/24`, `/64`).
    pub ip: String,
    pub connections: i64,
    pub messages: i64,
    /// Messages refused or quarantined.
    pub rejected: i64,
    /// Times it talked before the greeting.
    pub early_talks: i64,
    pub dnsbl_hits: i64,
    /// Longer greeting delays apply until then.
    pub penalty_until: Option<DateTime<Utc>>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Outbound sending counts of one sender (`<org id>/<address>`) or organisation
/// (`<org id>`) in the current windows: `hour` and `day` are hours and days since the Unix
/// epoch (UTC). A node pushes its own (absolute: a repeated push changes nothing); it gets
/// back the other nodes' sums, each over their latest hour and day.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboundCount {
    pub key: String,
    pub hour: i64,
    pub hour_messages: i64,
    pub day: i64,
    pub day_messages: i64,
    pub day_recipients: i64,
}

/// A node's changed outbound counts and the cursor of the other nodes' it has seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundCountExchange {
    /// Answer the counts changed after this cursor (0: all).
    #[serde(default)]
    pub since: i64,
    pub counts: Vec<OutboundCount>,
}

/// The other nodes' counts (summed per key) of the keys changed after the asked cursor, and
/// the cursor to ask from next; `more` when the answer was cut and another asks for the rest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OutboundCountChanges {
    pub cursor: i64,
    pub counts: Vec<OutboundCount>,
    pub more: bool,
}

/// A node's own counters (absolute, not deltas: a repeated push changes nothing).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReputationPush {
    pub entries: Vec<IpReputation>,
}

/// Reputation changed since a cursor, summed over nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReputationChanges {
    pub cursor: i64,
    pub entries: Vec<IpReputation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReputationParams {
    /// Answer entries changed after this cursor (0: all).
    pub since: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReputationQuery {
    /// An address or network to look up; without it, the most recently seen.
    pub ip: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A page of `IpReputation`.
pub type IpReputationList = crate::Page<IpReputation>;
