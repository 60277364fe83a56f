//! Identity wire types: login, the caller, users and roles, API keys, activation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    User,
    ApiKey,
}

/// How wide a caller's reach is: the whole platform, one MSP, one organisation, or a plain
/// user's own mail (and its delegators').
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReachLevel {
    Platform,
    Msp,
    Org,
    User,
}

/// Roles, from widest to narrowest reach.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A plain mailbox user: its own quarantine and those delegated to it.
    User,
    /// Reviews every quarantine of its organisation.
    SpamCzar,
    /// Manages one organisation.
    OrgAdmin,
    /// Manages the organisations of one MSP.
    MspAdmin,
    /// Operates the whole platform.
    PlatformAdmin,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// One-time code, for accounts with a second factor (reserved).
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: User,
}

/// The caller and what it may reach.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Me {
    /// The user, absent when the caller is an API key.
    pub user: Option<User>,
    pub role: Role,
    /// How the caller authenticated.
    pub via: CallerKind,
    pub reach: Reach,
    /// The maintenance banner of the domain of the caller's address, while one is set (the
    /// web app shows it in its top bar).
    #[serde(default)]
    pub banner: Option<String>,
    /// The domain of the caller's address, when it is one of its organisation's (its
    /// continuity state: `GET /domains/{id}/delivery`).
    #[serde(default)]
    pub domain_id: Option<Uuid>,
    /// The capabilities switched on for the caller's tenant (feature flags).
    #[serde(default)]
    pub features: Vec<crate::Feature>,
}

/// The tenants a caller can see: none listed means the whole platform.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Reach {
    /// How wide the reach is.
    pub level: ReachLevel,
    pub msp_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    /// For plain users: themselves and the users who delegated their quarantine to them.
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub msp_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub quarantine_delegate_id: Option<Uuid>,
    /// False until the user has set a password (activation pending).
    pub active: bool,
    /// Disabled by an admin: cannot sign in, gets no digests or emailed links; its mail
    /// still flows.
    #[serde(default)]
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub display_name: String,
    /// `org_admin`, `spam_czar` or `user` for organisation users; `msp_admin` under an MSP.
    pub role: Role,
    /// Without a password the user is sent an activation email.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub time_zone: Option<String>,
    /// Another user of the same organisation who manages this user's quarantine; `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub quarantine_delegate_id: Option<Option<Uuid>>,
    /// Admins only (not on oneself): `true` disables the account, `false` enables it again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Distinguishes an absent field (no change) from an explicit `null` (clear).
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A page of `User`.
pub type UserList = crate::Page<User>;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    pub token: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Which tenant an API key acts for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyScopeLevel {
    Msp,
    Org,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyScope {
    pub level: KeyScopeLevel,
    pub id: Uuid,
}

/// What an API key may do within its scope: everything an admin there may (`full`), or only
/// read (`read_only`: `GET` requests; anything else is answered 403).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyAccess {
    #[default]
    Full,
    ReadOnly,
}

impl TryFrom<String> for ApiKeyAccess {
    type Error = String;

    fn try_from(name: String) -> Result<ApiKeyAccess, String> {
        crate::from_wire_name(&name).ok_or_else(|| format!("not an API key access: {name}"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    pub scope: KeyScope,
    /// `full` when left out.
    #[serde(default)]
    pub access: ApiKeyAccess,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it; the key itself is never shown again.
    pub prefix: String,
    pub scope: KeyScope,
    pub access: ApiKeyAccess,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Answer to key creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// `moat_…`; send as `Authorization: Bearer moat_…`.
    pub secret: String,
}

/// A page of `ApiKey`.
pub type ApiKeyList = crate::Page<ApiKey>;

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(name: String) -> Result<Role, String> {
        crate::from_wire_name(&name).ok_or_else(|| format!("not a role: {name}"))
    }
}

/// Who did something recorded in the audit log.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    /// No valid credentials (a failed login, an activation link).
    Anonymous,
}

/// One audit log entry: who, when, from where, what, with what outcome, on which tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    /// The user or API key.
    pub actor_id: Option<Uuid>,
    /// The user's email, the key's id, or the email a login was tried with.
    pub actor: String,
    pub ip: String,
    /// `METHOD /path` of the call, or a named event (`login`, `read raw message …`).
    pub action: String,
    /// The HTTP status the call answered.
    pub status: u16,
    pub org_id: Option<Uuid>,
    pub msp_id: Option<Uuid>,
}

/// A page of audit entries.
pub type AuditList = crate::Page<AuditEntry>;

/// Audit log search.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Substring of the actor or the action.
    pub q: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A user of the caller's own organisation, as a picker shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Colleague {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
}

/// A page of colleagues.
pub type ColleagueList = crate::Page<Colleague>;
