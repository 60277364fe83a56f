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
    /// `outbound`: held by the organisation's outbound policy (only its admins see it).
    #[serde(default)]
    pub direction: crate::Direction,
    /// Why it was held, in plain words (filled in by the API from `reasons`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
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
    /// Why it was held (`spam` and `policy` both match what was held for its score or by
    /// policy: none of the block list, attachment, DMARC or test-pattern reasons).
    pub reason: Option<ReasonCode>,
    /// Only what was held going this way (`inbound` or `outbound`).
    pub direction: Option<crate::Direction>,
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
    /// `outbound`: held by the relaying organisation's outbound policy (admins review it).
    #[serde(default)]
    pub direction: crate::Direction,
}

/// One header field of a message, decoded for display.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

/// An attachment as listed (its bytes are never served from the preview).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AttachmentInfo {
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// One quarantined message: its list fields, header fields and attachments.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QuarantineMessage {
    #[serde(flatten)]
    pub item: QuarantineItem,
    pub headers: Vec<HeaderField>,
    pub attachments: Vec<AttachmentInfo>,
}

/// A link of a previewed message: what it says and where it really goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PreviewLink {
    pub text: String,
    pub href: String,
}

/// What a quarantined message shows, made safe: the text part as it is, the HTML part
/// sanitized (no scripts, styles, forms, frames or event handlers; `javascript:` and other
/// active links removed; remote images removed unless asked for).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QuarantinePreview {
    pub text: Option<String>,
    pub html: Option<String>,
    /// How many remote images were left out (ask with `images=true` to keep them).
    pub remote_images_blocked: u32,
    /// Every link of the HTML part with its real target.
    pub links: Vec<PreviewLink>,
}

/// Preview options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Keep remote images (`http`/`https` sources) in the HTML part.
    pub images: Option<bool>,
}

/// Most ids one quarantine action takes.
pub const MAX_ACTION_IDS: usize = 1000;

/// Quarantined messages to act on (up to 1,000, all within the caller's reach).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QuarantineIds {
    pub ids: Vec<String>,
}

/// Marks messages reviewed (or not).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReviewedRequest {
    pub ids: Vec<String>,
    pub reviewed: bool,
}

/// What an action changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ActionResult {
    pub affected: i64,
}

/// Unread (not yet reviewed) messages of one user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct UserUnread {
    pub user_id: Uuid,
    pub unread: i64,
}

/// The caller's quarantine in numbers: unread and total within its reach, and the unread
/// count of each user in it that has any (at most 500, most unread first).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct QuarantineSummary {
    pub unread: i64,
    pub total: i64,
    pub users: Vec<UserUnread>,
}

/// Releases messages to their recipients (each at most once), optionally allow-listing
/// their senders for the recipients.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReleaseRequest {
    pub ids: Vec<String>,
    /// Also add each sender to its recipient's own allow list.
    #[serde(default)]
    pub allow_sender: bool,
}

/// Why a message was held, as a stable code.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The sender is on a block list.
    BlockList,
    /// An attachment of a kind the organisation does not accept.
    Attachment,
    /// The sender's domain says (DMARC) it did not send the message.
    Dmarc,
    /// The content scored as spam.
    Spam,
    /// The standard spam test pattern (GTUBE).
    TestPattern,
    /// None of the above could be told from the reasons.
    Policy,
}

/// The reason a message was held, in words its reader understands; `reasons` keeps the
/// technical detail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Explanation {
    pub code: ReasonCode,
    pub text: String,
}

/// Reports messages as spam or not spam: the organisation's classifier learns from them
/// (and they are marked reviewed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub ids: Vec<String>,
    /// True: spam; false: not spam (ham).
    pub spam: bool,
}
