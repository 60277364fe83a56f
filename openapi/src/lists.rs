//! Allow and block lists: entries at five levels (user → domain → org → MSP → global);
//! the most specific level that matches decides.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ListLevel {
    User,
    Domain,
    Org,
    Msp,
    Global,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    Allow,
    Block,
}

/// Where an entry applies; `id` is absent for `global`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListScope {
    pub level: ListLevel,
    #[serde(default)]
    pub id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListEntry {
    pub scope: ListScope,
    pub kind: ListKind,
    /// `user@domain`, `@domain`, `@.domain` (subdomains), or an IP address / CIDR.
    pub pattern: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ListEntry {
    pub id: Uuid,
    pub scope: ListScope,
    pub kind: ListKind,
    pub pattern: String,
    pub created_at: DateTime<Utc>,
}

/// A page of `ListEntry`.
pub type ListEntryList = crate::Page<ListEntry>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub level: Option<ListLevel>,
    pub scope_id: Option<Uuid>,
    pub kind: Option<ListKind>,
    /// Substring of the pattern.
    pub q: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// An external address a user wrote to (its mail skips spam filtering for that user: the
/// reverse whitelist), until it is older than the platform's window or the user removes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CorrespondentEntry {
    pub address: String,
    pub last_seen: DateTime<Utc>,
}

/// A page of `CorrespondentEntry`.
pub type CorrespondentList = crate::Page<CorrespondentEntry>;

/// Which reverse-whitelist entry to remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CorrespondentQuery {
    pub address: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}
