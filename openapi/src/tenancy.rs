//! Tenancy wire types: MSPs, organisations, domains, CSV import and provisioning.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Policy;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Msp {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMsp {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMsp {
    pub name: Option<String>,
}

/// A page of `Msp`.
pub type MspList = crate::Page<Msp>;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Org {
    pub id: Uuid,
    pub msp_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    /// Required for platform admins; MSP admins may omit it (their own MSP).
    #[serde(default)]
    pub msp_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    pub name: Option<String>,
}

/// A page of `Org`.
pub type OrgList = crate::Page<Org>;

/// How the worker talks TLS to a domain's destination server.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// STARTTLS when the server offers it.
    #[default]
    Opportunistic,
    /// Refuse to deliver without STARTTLS.
    Required,
    /// Never start TLS.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Domain {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub destination_host: String,
    pub destination_port: u16,
    pub tls_mode: TlsMode,
    pub inbound_enabled: bool,
    pub outbound_enabled: bool,
    /// Shown to users of this domain while set (e.g. during maintenance).
    pub maintenance_banner: Option<String>,
    /// Days mail for this domain may wait in the queue before it is given up (1 to 30;
    /// none: the workers' default). An admin extends it while the server is down.
    #[serde(default)]
    pub queue_expiry_days: Option<u32>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    pub name: String,
    pub destination_host: String,
    pub destination_port: u16,
    #[serde(default)]
    pub tls_mode: Option<TlsMode>,
    #[serde(default)]
    pub inbound_enabled: Option<bool>,
    #[serde(default)]
    pub outbound_enabled: Option<bool>,
    #[serde(default)]
    pub maintenance_banner: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDomain {
    pub destination_host: Option<String>,
    pub destination_port: Option<u16>,
    pub tls_mode: Option<TlsMode>,
    pub inbound_enabled: Option<bool>,
    pub outbound_enabled: Option<bool>,
    /// `null` clears the banner.
    #[serde(default, with = "crate::identity::double_option")]
    #[schema(value_type = Option<String>)]
    pub maintenance_banner: Option<Option<String>>,
    /// `null` goes back to the workers' default.
    #[serde(default, with = "crate::identity::double_option")]
    #[schema(value_type = Option<u32>)]
    pub queue_expiry_days: Option<Option<u32>>,
}

/// A page of `Domain`.
pub type DomainList = crate::Page<Domain>;

/// Result of a CSV user import.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportResult {
    pub created: Vec<crate::User>,
}

/// What an import of a users CSV would do: the users it would create, and every line that
/// stops it (an import is all or nothing).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportPreview {
    pub users: Vec<ImportRow>,
    pub problems: Vec<ImportProblem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportRow {
    pub line: u32,
    pub email: String,
    pub display_name: String,
    pub role: crate::Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportProblem {
    /// The CSV line (the header is line 1).
    pub line: u32,
    pub message: String,
}

/// One domain in a provisioning call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionDomain {
    pub name: String,
    pub destination_host: String,
    pub destination_port: u16,
    #[serde(default)]
    pub tls_mode: Option<TlsMode>,
}

/// MSP self-provisioning: everything an organisation needs, in one all-or-nothing call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    /// Name of the organisation, when the call creates it (no organisation has the id yet).
    #[serde(default)]
    pub name: Option<String>,
    /// MSP of the organisation to create (platform admins; MSP admins default to their own).
    #[serde(default)]
    pub msp_id: Option<Uuid>,
    #[serde(default)]
    pub domains: Vec<ProvisionDomain>,
    /// Addresses or CIDRs of the customer's servers, allowed to relay outbound.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub policy: Option<Policy>,
    /// CSV with a header row: `email,display_name[,role][,time_zone][,password]`.
    #[serde(default)]
    pub users_csv: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProvisionResponse {
    pub org_id: Uuid,
    pub domains: Vec<Domain>,
    pub allowed_ips: Vec<String>,
    pub policy: Policy,
    pub users: Vec<crate::User>,
}

/// Look of the web app and emails: the product name, logo and accent colour. MSPs will be
/// able to set their own; until then these are the platform's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Branding {
    pub product_name: String,
    /// URL of a logo image on this server, or none for the built-in mark.
    pub logo_url: Option<String>,
    /// Accent colour as `#rrggbb`.
    pub primary_color: String,
}

/// Filters of the organisation list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgListParams {
    /// 1-based page number (default 1).
    pub page: Option<u32>,
    /// Items per page (default 50, at most 500).
    pub per_page: Option<u32>,
    /// Only organisations of this MSP.
    pub msp_id: Option<Uuid>,
}

/// A customer server (address or small network) allowed to relay outbound mail through
/// Moat for its organisation's own domains.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AllowedIp {
    pub id: Uuid,
    pub org_id: Uuid,
    /// Normalised CIDR form (`192.0.2.10/32`, `2001:db8:1::/64`).
    pub cidr: String,
    pub created_at: DateTime<Utc>,
}

/// Add a relay server. Organisation and MSP admins and API keys may name one address or a
/// network of at most 256 IPv4 addresses (/24) or an IPv6 /48; the platform admin may name any.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAllowedIp {
    pub cidr: String,
}

/// A page of `AllowedIp`.
pub type AllowedIpList = crate::Page<AllowedIp>;

/// `GET /banner` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BannerQuery {
    /// The domain of the address someone is signing in with.
    pub domain: String,
}

/// A domain's maintenance banner while one is set (shown on the login page).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DomainBanner {
    pub banner: Option<String>,
}
