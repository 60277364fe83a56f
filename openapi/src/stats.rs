//! Statistics: message counts by verdict and by kind of threat over time (hourly roll-ups
//! kept as events arrive), and the most targeted users and busiest sending IPs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The size of one bar.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StatsBucket {
    Hour,
    #[default]
    Day,
}

/// What stopped or marked a message.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ThreatKind {
    /// Talked before the greeting (or pipelined too early): dropped at connect.
    EarlyTalker,
    /// Listed on a DNS block list (refused at connect, or scored).
    DnsList,
    /// Scored as spam by the content filter.
    Spam,
    /// Carried a blocked kind of attachment.
    Attachment,
    /// A bounce for mail the organisation never sent.
    Backscatter,
    /// From a block-listed sender.
    BlockList,
    /// Failed the sender domain's DMARC policy.
    Dmarc,
    /// Hung up while the tarpit held its greeting back (a bot that gave up).
    Tarpit,
}

impl ThreatKind {
    pub const ALL: [ThreatKind; 8] = [
        ThreatKind::EarlyTalker,
        ThreatKind::DnsList,
        ThreatKind::Spam,
        ThreatKind::Attachment,
        ThreatKind::Backscatter,
        ThreatKind::BlockList,
        ThreatKind::Dmarc,
        ThreatKind::Tarpit,
    ];
}

/// `GET /stats` filters: one organisation, or an MSP's organisations, or (platform admins)
/// everything, including connections refused before any recipient was known.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    pub org_id: Option<Uuid>,
    pub msp_id: Option<Uuid>,
    /// One domain's mail (to and from it).
    pub domain_id: Option<Uuid>,
    /// One mailbox's mail (to and from it).
    pub user_id: Option<Uuid>,
    /// From (default: 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// Until (default: now); at most 400 days after `from`.
    pub to: Option<DateTime<Utc>>,
    pub bucket: Option<StatsBucket>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ThreatCount {
    pub kind: ThreatKind,
    pub count: i64,
}

/// Counts of one bucket (or of the whole range).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StatsPoint {
    pub start: DateTime<Utc>,
    pub inbound: i64,
    pub outbound: i64,
    pub delivered: i64,
    pub quarantined: i64,
    pub rejected: i64,
    /// Refused before any message was taken: connections at the greeting (platform-wide
    /// only) and bounces refused as back-scatter.
    pub refused: i64,
    /// By kind of threat, the kinds with a count only (its "attack profile").
    pub threats: Vec<ThreatCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TopEntry {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StatsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: StatsBucket,
    /// One point per bucket with traffic, oldest first.
    pub series: Vec<StatsPoint>,
    pub totals: StatsPoint,
    /// The users that received the most inbound mail (over whole days of the range).
    pub top_recipients: Vec<TopEntry>,
    /// The client IPs that sent the most inbound mail.
    pub top_ips: Vec<TopEntry>,
}
