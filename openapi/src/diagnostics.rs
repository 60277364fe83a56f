//! Test delivery: a worker runs through the stages of delivering to a domain's destination
//! (DNS, TCP, banner, EHLO, STARTTLS, a RCPT probe, optionally a test message) and reports
//! each stage's answer and time; the MX records of the domain are checked too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestDeliveryRequest {
    pub domain_id: Uuid,
    /// Also send a short test message through the whole pipeline: this node's own SMTP
    /// intake (filtering, spool), then the delivery queue to the destination.
    #[serde(default)]
    pub send_test: bool,
    /// The mailbox of the domain the test message goes to (with `send_test`); the caller's
    /// own address when it is one.
    #[serde(default)]
    pub test_recipient: Option<String>,
}

/// One step of the delivery conversation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStage {
    /// The domain's public MX records: do they point at Moat?
    Mx,
    /// The destination host name resolved to addresses.
    Dns,
    /// TCP connection to the destination.
    Connect,
    /// The server's greeting.
    Banner,
    /// EHLO and the extensions offered.
    Ehlo,
    /// STARTTLS and the certificate shown.
    Starttls,
    /// `MAIL FROM:<>` and `RCPT TO:<postmaster@domain>`.
    Rcpt,
    /// The test message (when asked for) handed to this node's own SMTP intake: the answer
    /// after Moat's filtering.
    Data,
    /// The queued test message's delivery to the destination: the destination's answer (or
    /// why it was not delivered: held by filtering, still waiting).
    Delivery,
}

/// The outcome of one stage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StageResult {
    pub stage: ProbeStage,
    pub ok: bool,
    /// How long the stage took, in microseconds.
    pub micros: u64,
    /// The server's answer or the error, in one line.
    pub answer: String,
    /// More about it (extensions, certificate fields, MX hosts).
    #[serde(default)]
    pub details: Vec<String>,
}

/// What a worker reports when the probe ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TestDeliveryReport {
    /// The node that ran it.
    pub node: String,
    pub stages: Vec<StageResult>,
}

/// Where a test delivery stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TestDeliveryStatus {
    /// Waiting for a worker.
    Pending,
    /// Every delivery stage passed (the MX check only informs).
    Passed,
    /// A stage failed (the first failing one ended the conversation).
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TestDelivery {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub domain: String,
    pub send_test: bool,
    /// Where the test message went (with `send_test`).
    #[serde(default)]
    pub test_recipient: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub status: TestDeliveryStatus,
    pub finished_at: Option<DateTime<Utc>>,
    /// The node that ran it (none while pending).
    pub node: Option<String>,
    pub stages: Vec<StageResult>,
}
