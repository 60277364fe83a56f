//! The `Caller` extractor and every reach/role check.
//!
//! Rule: a resource outside the caller's reach does not exist for it (404); a resource it
//! can see but its role may not change answers 403. Handlers never compare tenant ids by
//! hand: they ask `Caller` for the resource (`caller.org(..)`, `caller.manage_org(..)`),
//! and `Caller` asks the store with its [`Scope`], so the check lives in the SQL.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use moat_openapi::{Domain, Msp, Org, Reach, Role};
use uuid::Uuid;

use super::tokens::{API_KEY_PREFIX, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Scope, UserRecord};

/// Who is calling, with what role, reaching which part of the tenant tree.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    pub scope: Scope,
    /// The logged-in user; `None` for API keys.
    pub user: Option<UserRecord>,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// A read-only API key: only `GET` (and `HEAD`) requests.
    pub read_only: bool,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Who calls, and whether it may make this request's kind of call (a read-only key reads).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Resolved once per request: the audit layer resolves the caller first and leaves it here.
        let caller = match parts.extensions.get::<Caller>() {
            Some(caller) => caller.clone(),
            None => Caller::identify(parts, state).await?,
        };
        let reads = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        if caller.read_only && !reads {
            return Err(ApiError::ReadOnlyKey);
        }
        Ok(caller)
    }
}

impl Caller {
    /// Who calls, from the bearer token (an API key or a user's JWT), whatever the request.
    pub async fn identify(parts: &Parts, state: &AppState) -> ApiResult<Caller> {
        let token = super::bearer(parts).ok_or(ApiError::Unauthorized("missing Authorization: Bearer token"))?;
        if token.starts_with(API_KEY_PREFIX) {
            let key = state
                .store
                .api_key_by_hash(&sha256_hex(token))
                .await?
                .ok_or(ApiError::Unauthorized("invalid or revoked API key"))?;
            let (role, scope) = match (key.org_id, key.msp_id) {
                (Some(org), _) => (Role::OrgAdmin, Scope::Org(org)),
                (None, Some(msp)) => (Role::MspAdmin, Scope::Msp(msp)),
                (None, None) => return Err(ApiError::Unauthorized("API key has no scope")),
            };
            let read_only = key.access == moat_openapi::ApiKeyAccess::ReadOnly;
            return Ok(Caller { role, scope, user: None, api_key_id: Some(key.id), read_only });
        }
        let claims = state.jwt.verify(token).ok_or(ApiError::Unauthorized("invalid or expired token"))?;
        let user = state
            .store
            .user_by_id(claims.sub)
            .await?
            .filter(|u| u.active && !u.disabled)
            .ok_or(ApiError::Unauthorized("account no longer exists or is disabled"))?;
        if claims.pwd != super::tokens::password_fingerprint(user.password_hash.as_deref()) {
            return Err(ApiError::Unauthorized("the password changed since this token was issued; log in again"));
        }
        Caller::for_user(user)
    }

    pub fn for_user(user: UserRecord) -> ApiResult<Caller> {
        let role = user.role;
        let missing =
            || ApiError::Internal(anyhow::anyhow!("user {} has role {:?} without its tenant", user.id, user.role));
        let scope = match role {
            Role::PlatformAdmin => Scope::Platform,
            Role::MspAdmin => Scope::Msp(user.msp_id.ok_or_else(missing)?),
            Role::OrgAdmin | Role::SpamCzar => Scope::Org(user.org_id.ok_or_else(missing)?),
            Role::User => Scope::User { org_id: user.org_id.ok_or_else(missing)?, user_id: user.id },
        };
        Ok(Caller { role, scope, user: Some(user), api_key_id: None, read_only: false })
    }

    pub fn user_id(&self) -> Option<Uuid> {
        self.user.as_ref().map(|u| u.id)
    }

    /// 403 unless the caller's role is at least `min`.
    /// Who the caller is, for records people read (`cleared_by`, `requested_by`).
    pub fn name(&self) -> String {
        match (&self.user, self.api_key_id) {
            (Some(user), _) => user.email.clone(),
            (None, Some(key)) => format!("api key {key}"),
            (None, None) => "unknown".to_string(),
        }
    }

    pub fn require(&self, min: Role) -> ApiResult<()> {
        if self.role >= min { Ok(()) } else { Err(ApiError::forbidden()) }
    }

    /// Whether the caller may point domains at internal addresses: the platform admin, or
    /// anyone on a deployment configured for it (development, tests).
    pub fn may_use_internal_destinations(&self, state: &AppState) -> bool {
        self.role == Role::PlatformAdmin || state.config.allow_internal_destinations
    }

    /// Whether the caller may name relay ranges of any width (the platform admin only).
    pub fn may_set_wide_relay_ranges(&self) -> bool {
        self.role == Role::PlatformAdmin
    }

    /// Whether the caller may hand out `role` (never above its own).
    pub fn may_grant(&self, role: Role) -> bool {
        role <= self.role
    }

    /// The reach as shown by `GET /auth/me`.
    pub async fn reach(&self, state: &AppState) -> ApiResult<Reach> {
        let (level, msp_id, org_id, user_ids) = match self.scope {
            Scope::Platform => (moat_openapi::ReachLevel::Platform, None, None, vec![]),
            Scope::Msp(msp) => (moat_openapi::ReachLevel::Msp, Some(msp), None, vec![]),
            Scope::Org(org) => {
                let msp = state.store.get_org(Scope::Platform, org).await?.map(|o| o.msp_id);
                (moat_openapi::ReachLevel::Org, msp, Some(org), vec![])
            }
            Scope::User { org_id, user_id } => {
                let msp = state.store.get_org(Scope::Platform, org_id).await?.map(|o| o.msp_id);
                let mut ids = vec![user_id];
                ids.extend(state.store.delegators_of(user_id).await?);
                (moat_openapi::ReachLevel::User, msp, Some(org_id), ids)
            }
        };
        Ok(Reach { level, msp_id, org_id, user_ids })
    }

    // --- Resources within reach -------------------------------------------------------------

    pub async fn msp(&self, state: &AppState, id: Uuid) -> ApiResult<Msp> {
        if self.scope.org_filter().is_some() {
            return Err(ApiError::not_found());
        }
        state.store.get_msp(self.scope, id).await?.ok_or_else(ApiError::not_found)
    }

    pub async fn manage_msp(&self, state: &AppState, id: Uuid) -> ApiResult<Msp> {
        let msp = self.msp(state, id).await?;
        self.require(Role::MspAdmin)?;
        Ok(msp)
    }

    pub async fn org(&self, state: &AppState, id: Uuid) -> ApiResult<Org> {
        state.store.get_org(self.scope, id).await?.ok_or_else(ApiError::not_found)
    }

    pub async fn manage_org(&self, state: &AppState, id: Uuid) -> ApiResult<Org> {
        let org = self.org(state, id).await?;
        self.require(Role::OrgAdmin)?;
        Ok(org)
    }

    pub async fn domain(&self, state: &AppState, id: Uuid) -> ApiResult<Domain> {
        state.store.get_domain(self.scope, id).await?.ok_or_else(ApiError::not_found)
    }

    pub async fn manage_domain(&self, state: &AppState, id: Uuid) -> ApiResult<Domain> {
        let domain = self.domain(state, id).await?;
        self.require(Role::OrgAdmin)?;
        Ok(domain)
    }

    pub async fn user(&self, state: &AppState, id: Uuid) -> ApiResult<UserRecord> {
        state.store.get_user(self.scope, id).await?.ok_or_else(ApiError::not_found)
    }

    /// The caller itself, or a user it may administer (what a user's own settings allow).
    pub async fn self_or_managed(&self, state: &AppState, id: Uuid) -> ApiResult<UserRecord> {
        if self.user_id() == Some(id) { self.user(state, id).await } else { self.manage_user(state, id).await }
    }

    /// A user the caller may administer: within reach, and an admin of at least that rank.
    pub async fn manage_user(&self, state: &AppState, id: Uuid) -> ApiResult<UserRecord> {
        let user = self.user(state, id).await?;
        self.require(Role::OrgAdmin)?;
        if user.role > self.role {
            return Err(ApiError::forbidden());
        }
        Ok(user)
    }
}
