//! Per-user settings (time zone, digest schedule) and digest resends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most digest times a user may set in a day.
pub const MAX_DIGEST_TIMES: usize = 24;

/// When a user's quarantine digest is sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigestSchedule {
    /// Off: no scheduled digests (a resend still works).
    pub enabled: bool,
    /// Local times of day, `HH:MM` in the user's time zone (1 to 24 of them when enabled).
    pub times: Vec<String>,
    /// List only the messages no earlier digest listed (otherwise every unreviewed message).
    pub only_new: bool,
}

impl Default for DigestSchedule {
    fn default() -> Self {
        DigestSchedule { enabled: true, times: vec!["08:00".into()], only_new: true }
    }
}

/// A user's personal settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct UserSettings {
    pub user_id: Uuid,
    /// IANA time zone, e.g. `Asia/Tokyo`: digest times and the web app's times follow it.
    pub time_zone: String,
    pub digest: DigestSchedule,
    /// When the next scheduled digest is due (UTC); none when digests are off.
    pub next_digest_at: Option<DateTime<Utc>>,
    /// When the last digest was made.
    pub last_digest_at: Option<DateTime<Utc>>,
}

/// `PUT /users/{id}/settings`: the whole settings (absent parts keep their value).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserSettings {
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub digest: Option<DigestSchedule>,
}

/// `POST /digests/resend`: the caller's own digest, or (admins) that of a user in reach.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigestResendRequest {
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

/// What a resend did: a digest goes into the system-mail outbox only when something is held.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DigestResendResult {
    /// True when a digest was put in the outbox (see `GET /system-mail/state` for delivery).
    pub queued: bool,
    /// How many held messages it lists.
    pub messages: i64,
}
