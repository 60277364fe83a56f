//! The worker channel (node tokens only) and message tracking: the policy snapshot a worker
//! enforces, the events it reports, and the tracked messages built from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{Policy, TlsMode};

/// A node announcing itself (its name is informational; the token identifies it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterNode {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NodeInfo {
    pub id: Uuid,
    pub name: String,
}

/// Everything a worker needs to accept, refuse and route mail, with a version that grows
/// with every change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PolicySnapshot {
    pub version: i64,
    pub domains: Vec<WorkerDomain>,
    pub recipients: Vec<WorkerRecipient>,
    pub relay_networks: Vec<RelayNetwork>,
    pub policies: Vec<OrgPolicy>,
    /// Which MSP each organisation belongs to (for MSP-level lists).
    #[serde(default)]
    pub orgs: Vec<WorkerOrg>,
    /// Allow/block list entries at every level.
    #[serde(default)]
    pub lists: Vec<crate::ListEntry>,
    /// Reverse whitelist: external addresses users wrote to recently.
    #[serde(default)]
    pub correspondents: Vec<Correspondent>,
    /// What the API accepts on the worker channel, so a worker never takes in (and answers
    /// `250` for) a message it could not hand over.
    #[serde(default)]
    pub limits: Option<ChannelLimits>,
    /// Senders over an outbound limit whose organisation blocks them until an admin clears
    /// the alert.
    #[serde(default)]
    pub blocked_senders: Vec<crate::BlockedSender>,
    /// Host names the registered nodes announced: a domain's MX pointing at any of them
    /// points at Moat.
    #[serde(default)]
    pub node_hostnames: Vec<String>,
}

/// Sizes the API accepts from workers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ChannelLimits {
    /// The largest raw message (as stamped by the worker) `POST /worker/quarantine` takes.
    pub max_message_bytes: u64,
    /// The largest request body of `POST /worker/quarantine` (base64 of the message plus metadata).
    pub max_upload_bytes: u64,
    /// The largest request body of `POST /worker/events`.
    pub max_event_batch_bytes: u64,
}

/// Bounds of sender-controlled text carried in events and uploads (characters).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Longest address kept in an event (RFC 5321 path limit, with room).
pub const MAX_ADDRESS_CHARS: usize = 320;
/// Most recipients listed in one event.
pub const MAX_EVENT_RECIPIENTS: usize = 1000;
/// Longest Message-ID kept.
pub const MAX_MESSAGE_ID_CHARS: usize = 998;

/// Longest remote answer or reason kept.
pub const MAX_RESPONSE_CHARS: usize = 2000;
/// Most reasons kept per event.
pub const MAX_REASONS: usize = 50;

impl EventDetail {
    /// The detail with sender- and peer-controlled text cut to the limits above, so one
    /// hostile message cannot make an event that the API refuses or that grows a row without
    /// limit. Workers apply it when they build events, the API again when it stores them.
    pub fn bounded(mut self) -> EventDetail {
        let cut = |v: &mut Option<String>, max: usize| {
            if let Some(text) = v.as_mut() {
                *text = bounded(text, max);
            }
        };
        cut(&mut self.sender, MAX_ADDRESS_CHARS);
        cut(&mut self.subject, MAX_SUBJECT_CHARS);
        cut(&mut self.message_id, MAX_MESSAGE_ID_CHARS);
        cut(&mut self.client_ip, 64);
        cut(&mut self.response, MAX_RESPONSE_CHARS);
        cut(&mut self.destination, MAX_RESPONSE_CHARS);
        self.recipients.truncate(MAX_EVENT_RECIPIENTS);
        for r in &mut self.recipients {
            *r = bounded(r, MAX_ADDRESS_CHARS);
        }
        self.reasons.truncate(MAX_REASONS);
        for r in &mut self.reasons {
            *r = bounded(r, MAX_RESPONSE_CHARS);
        }
        self
    }
}

/// `text` cut to at most `max` characters (on a character boundary), with `…` when cut.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => {
            let keep = text[..end].char_indices().last().map(|(i, _)| i).unwrap_or(0);
            format!("{}…", &text[..keep])
        }
    }
}

/// A user wrote to `address`: mail from it to that user is trusted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Correspondent {
    pub user_id: Uuid,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrespondentBatch {
    pub correspondents: Vec<Correspondent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkerOrg {
    pub id: Uuid,
    pub msp_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkerDomain {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub destination_host: String,
    pub destination_port: u16,
    pub tls_mode: TlsMode,
    pub inbound_enabled: bool,
    pub outbound_enabled: bool,
    /// The domain's own filtering policy, overriding its organisation's.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// How long its mail may wait in the queue (none: the worker's own setting).
    #[serde(default)]
    pub queue_expiry_days: Option<u32>,
    /// An admin asked for the waiting mail to be tried now (each worker does so once per
    /// request).
    #[serde(default)]
    pub retry_requested_at: Option<DateTime<Utc>>,
}

/// A mailbox Moat accepts mail for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkerRecipient {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub email: String,
}

/// A customer's server allowed to relay outbound through Moat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RelayNetwork {
    pub org_id: Uuid,
    pub cidr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OrgPolicy {
    pub org_id: Uuid,
    pub policy: Policy,
}

/// Long-poll parameters for policy changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// The version the worker has.
    pub since: i64,
    /// Seconds to wait for a change (default 25, at most 60).
    pub wait: Option<u64>,
}

/// What happened to a message, in order.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Accepted after DATA and written to the spool.
    Received,
    /// The filter's decision (deliver, quarantine, reject).
    Verdict,
    /// A delivery attempt failed temporarily; the message stays queued.
    Deferred,
    Delivered,
    /// Failed permanently or expired; a DSN went to the sender.
    Bounced,
    /// Removed from the queue by an operator.
    Removed,
    /// The connection was refused before any message (early talker, DNSBL, rate limit).
    Refused,
    /// The API refused the quarantined copy: it is kept aside on the worker for an operator.
    Failed,
}

/// One event of one tracked message. `tracking_id` names the message per destination
/// organisation; `id` makes the event idempotent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessageEvent {
    pub id: Uuid,
    pub tracking_id: String,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub org_id: Option<Uuid>,
    #[serde(default)]
    pub detail: EventDetail,
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// To a customer's users.
    #[default]
    Inbound,
    /// From a customer's server to the world.
    Outbound,
    /// A delivery status notification Moat wrote.
    Bounce,
}

impl TryFrom<String> for Direction {
    type Error = String;

    fn try_from(name: String) -> Result<Direction, String> {
        crate::from_wire_name(&name).ok_or_else(|| format!("not a direction: {name}"))
    }
}

/// The filter's decision for one copy of a message.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    #[default]
    Deliver,
    Quarantine,
    Reject,
}

/// Where a tracked message stands.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TrackedStatus {
    /// Accepted; no verdict recorded yet.
    #[default]
    Received,
    /// To be delivered.
    Queued,
    /// A delivery attempt failed temporarily.
    Deferred,
    Delivered,
    /// Failed permanently or expired; a DSN went to the sender.
    Bounced,
    Quarantined,
    Rejected,
    /// Removed from the queue by an operator.
    Removed,
    /// The API refused the quarantined copy; the worker keeps it aside.
    Failed,
}

/// The wire name of a unit enum value (its serde name), as it is also stored in databases
/// and written in headers and metric labels.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A unit enum value from its wire name.
pub fn from_wire_name<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Fields an event carries; which ones depends on the kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventDetail {
    /// On `received`.
    pub direction: Option<Direction>,
    pub sender: Option<String>,
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub size: Option<i64>,
    pub client_ip: Option<String>,
    /// On `verdict`.
    pub verdict: Option<Verdict>,
    pub reasons: Vec<String>,
    /// The destination's answer or the local error (on `deferred`, `bounced`, `delivered`).
    pub response: Option<String>,
    pub destination: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<MessageEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EventAck {
    /// Events stored now.
    pub accepted: u32,
    /// Events already stored before (same id), ignored.
    pub duplicates: u32,
}

/// A message as message tracking shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrackedMessage {
    pub id: String,
    pub org_id: Option<Uuid>,
    pub direction: Direction,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub size: i64,
    pub client_ip: String,
    pub status: TrackedStatus,
    pub verdict: Option<Verdict>,
    pub reasons: Vec<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of `TrackedMessage`.
pub type TrackedMessageList = crate::Page<TrackedMessage>;

/// One tracked message with its event history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrackedMessageDetail {
    #[serde(flatten)]
    pub message: TrackedMessage,
    pub events: Vec<TrackedEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrackedEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub detail: EventDetail,
}

/// Message tracking search.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Substring of sender, recipients or subject.
    pub q: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    /// The `Message-ID` header (without angle brackets is fine).
    pub message_id: Option<String>,
    pub status: Option<TrackedStatus>,
    pub org_id: Option<Uuid>,
    /// Received at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Received before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_keep_the_wire_names_the_strings_had() {
        let statuses = [
            (TrackedStatus::Received, "received"),
            (TrackedStatus::Queued, "queued"),
            (TrackedStatus::Deferred, "deferred"),
            (TrackedStatus::Delivered, "delivered"),
            (TrackedStatus::Bounced, "bounced"),
            (TrackedStatus::Quarantined, "quarantined"),
            (TrackedStatus::Rejected, "rejected"),
            (TrackedStatus::Removed, "removed"),
            (TrackedStatus::Failed, "failed"),
        ];
        for (status, name) in statuses {
            assert_eq!(wire_name(&status), name);
            assert_eq!(from_wire_name::<TrackedStatus>(name), Some(status));
        }
        let verdicts =
            [(Verdict::Deliver, "deliver"), (Verdict::Quarantine, "quarantine"), (Verdict::Reject, "reject")];
        for (verdict, name) in verdicts {
            assert_eq!(wire_name(&verdict), name);
        }
        let directions =
            [(Direction::Inbound, "inbound"), (Direction::Outbound, "outbound"), (Direction::Bounce, "bounce")];
        for (direction, name) in directions {
            assert_eq!(wire_name(&direction), name);
        }
        assert_eq!(wire_name(&EventKind::Refused), "refused");
        assert_eq!(from_wire_name::<Verdict>("maybe"), None);
    }

    #[test]
    fn bounded_text_keeps_at_most_the_limit_on_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&"é".repeat(20), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}

/// What a worker job asks for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkerJobKind {
    /// Deliver a quarantined message to its recipient's destination.
    Release,
    /// Deliver a mail of the platform's own (activation, reset, digest) to its recipient.
    SystemMail,
    /// Relay a message a user wrote in the Live Archive to its recipients (and archive it).
    ArchiveSend,
    /// Run a test delivery to the destination of `recipient`'s domain (`recipient` is
    /// `postmaster@<domain>`; `raw_base64` holds the test message when one is to be sent).
    TestDelivery,
}

/// A job leased to a worker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WorkerJob {
    pub id: Uuid,
    pub kind: WorkerJobKind,
    /// The organisation of a released message (system mail has none).
    pub org_id: Option<Uuid>,
    pub recipient: String,
    /// The original envelope sender.
    pub sender: String,
    /// Who released it (for `X-Moat-Released`).
    pub released_by: String,
    /// Every recipient of an archive send (`recipient` is the first).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// A release: which way the held copy was going (an outbound hold leaves as outbound mail).
    #[serde(default)]
    pub direction: Direction,
    /// The message, base64 (standard alphabet).
    pub raw_base64: String,
}

/// Jobs leased to the calling worker (each for a few minutes; unfinished ones go back).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Default)]
pub struct WorkerJobBatch {
    pub jobs: Vec<WorkerJob>,
}

/// A worker's report on a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct JobDone {
    /// True when the job was carried out (a release: queued for delivery).
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// A test delivery's stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::TestDeliveryReport>,
}

/// One message users taught the classifier about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrainingItem {
    /// Position in the feed; ask for what comes after the last one learned.
    pub seq: i64,
    /// Whose model learns it.
    pub org_id: Uuid,
    pub spam: bool,
    /// The message, base64 (standard alphabet).
    pub raw_base64: String,
}

/// A slice of the training feed (`GET /worker/training?after=`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrainingBatch {
    pub items: Vec<TrainingItem>,
    /// The seq to ask after next time (the last one read, even when its message was gone).
    pub next: i64,
}

/// `GET /worker/training` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrainingQuery {
    /// The last seq already learned (0 at first).
    pub after: Option<i64>,
}
