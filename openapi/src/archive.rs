//! The Live Archive: a copy of every message Moat delivers or relays, kept per organisation
//! for its retention, readable and answerable in the web app while the customer's own
//! server is down; and the continuity state of a domain's destination.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{AttachmentInfo, Direction, HeaderField, QuarantinePreview};

/// Which of a user's folders a message is in.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Mailbox {
    /// Mail to the user.
    #[default]
    Inbox,
    /// Mail from the user (relayed by its server, or sent from the web app).
    Sent,
}

/// Where the copy for this mailbox stands in the delivery queue.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt.
    #[default]
    Queued,
    /// Tried and not taken yet (`last_error` says why); tried again later.
    Deferred,
    Delivered,
    /// Given up (refused for good, or expired in the queue).
    Bounced,
}

/// One mailbox a worker's archive copy belongs in: the address (the API finds its user in
/// the copy's organisation; an address with no user is skipped), the folder, and the
/// tracking id of the route that delivers it (its delivery state comes from that route's
/// events).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveMailboxRef {
    pub address: String,
    pub mailbox: Mailbox,
    pub tracking_id: String,
}

/// A worker hands over one archive copy: one raw message per organisation, whatever its
/// number of recipients, with its mailbox rows. Idempotent by `id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveUpload {
    pub id: String,
    pub org_id: Uuid,
    pub direction: Direction,
    /// The envelope sender.
    pub sender: String,
    pub received_at: DateTime<Utc>,
    pub mailboxes: Vec<ArchiveMailboxRef>,
    /// The raw message, base64 (standard alphabet).
    pub raw_base64: String,
}

/// One archived message as a mailbox lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ArchiveItem {
    pub id: String,
    pub org_id: Uuid,
    /// Whose mailbox this is.
    pub user_id: Uuid,
    pub mailbox: Mailbox,
    pub subject: String,
    /// The `From:` address.
    pub sender: String,
    /// The `To:` and `Cc:` addresses.
    pub recipients: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub size: i64,
    pub has_attachments: bool,
    /// The start of the text.
    pub snippet: String,
    /// Messages of one conversation share this (from Message-ID, References, In-Reply-To).
    pub thread_id: String,
    /// None while the worker's report is on its way, or once tracking data has expired.
    pub state: Option<DeliveryState>,
    /// Why the last attempt did not deliver it (deferred or bounced copies).
    pub last_error: Option<String>,
}

/// A page of `ArchiveItem`.
pub type ArchiveList = crate::Page<ArchiveItem>;

/// Archive search, within one user's mailbox (the caller's own unless an admin names
/// another user within its reach).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    /// Substring of the sender, recipients, subject or text.
    pub q: Option<String>,
    /// `inbox` (default) or `sent`.
    pub mailbox: Option<Mailbox>,
    /// Another user's mailbox (organisation admins and up; the read is audited).
    pub user_id: Option<Uuid>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// `GET /archive/{id}` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveReadQuery {
    /// The mailbox owner, when an admin reads another user's message.
    pub user_id: Option<Uuid>,
    /// Keep remote images in the HTML.
    pub images: Option<bool>,
}

/// One archived message to read: its fields, header fields, attachments, what it shows
/// (sanitized as quarantine previews are) and the rest of its conversation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ArchiveMessage {
    #[serde(flatten)]
    pub item: ArchiveItem,
    /// `Message-ID` (without angle brackets), for replies.
    pub message_id: String,
    pub headers: Vec<HeaderField>,
    pub attachments: Vec<AttachmentInfo>,
    pub preview: QuarantinePreview,
    /// Every message of the conversation in this user's mailboxes, oldest first (this one
    /// included).
    pub thread: Vec<ArchiveItem>,
}

/// A new attachment of a message sent from the web app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    pub name: String,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The file, base64 (standard alphabet).
    pub data_base64: String,
}

/// A message written in the web app (compose, reply, reply-all, forward). It leaves from
/// the caller's own address through the outbound relay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSendRequest {
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    /// The archived message this answers (its conversation headers are set).
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The archived message this forwards (its attachments go along).
    #[serde(default)]
    pub forward_of: Option<String>,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// What became of a send: handed to the delivery workers (it shows in Sent once a worker
/// has queued it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ArchiveSendResult {
    pub job_id: Uuid,
    pub message_id: String,
}

/// One worker's view of one customer destination, sent every few seconds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DestinationReport {
    /// The customer domain.
    pub domain: String,
    /// Messages (routes) waiting for it on this node.
    pub waiting: i64,
    pub oldest_at: Option<DateTime<Utc>>,
    /// Since when every attempt failed (none: the last attempt delivered, or none failed).
    pub unreachable_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A worker's delivery state: every destination with mail waiting or failing (the whole
/// picture of this node; destinations left out have nothing waiting).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReport {
    pub destinations: Vec<DestinationReport>,
}

/// A domain's continuity state, summed over the workers that reported in the last minute.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DomainDelivery {
    pub domain_id: Uuid,
    pub domain: String,
    /// False while the destination refuses or cannot be reached.
    pub reachable: bool,
    pub unreachable_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Messages waiting for the destination, safe in Moat's queue.
    pub waiting: i64,
    pub oldest_at: Option<DateTime<Utc>>,
    /// Days a message waits before it is given up (the domain's own, else the workers').
    pub queue_expiry_days: Option<u32>,
    /// When an admin last asked for a retry now.
    pub retry_requested_at: Option<DateTime<Utc>>,
}
