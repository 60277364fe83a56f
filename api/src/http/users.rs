//! Users of an organisation: administration, self-service profile, welcome and reset mail.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{CreateUser, ErrorBody, PageParams, Role, UpdateUser, User, UserList};
use uuid::Uuid;

use crate::accounts::{self, Home};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Paging, Scope, UserParent};
use crate::validate;

#[utoipa::path(get, path = "/orgs/{id}/users", tag = "tenancy", params(("id" = Uuid, Path), PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::User>), (status = 404, body = ErrorBody)))]
pub async fn list_org_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<UserList>> {
    caller.org(&state, id).await?;
    let paging = Paging::new(p.page, p.per_page);
    let (items, total) = state.store.list_users(caller.scope, UserParent::Org(id), paging).await?;
    Ok(Json(UserList::new(items, total, paging.page, paging.per_page)))
}

/// Add a user; without `password` the user is sent an activation email.
#[utoipa::path(post, path = "/orgs/{id}/users", tag = "tenancy", params(("id" = Uuid, Path)), request_body = CreateUser,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_org_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.manage_org(&state, id).await?;
    accounts::check_own_domain("email", &req.email, &state.store.org_domain_names(id).await?)?;
    let new = accounts::build_new_user(&state, &req, Home::Org(id)).await?;
    if !caller.may_grant(req.role) {
        return Err(ApiError::forbidden());
    }
    state.store.create_user(&new).await?;
    tracing::info!(user_id = %new.record.id, org_id = %id, "user created");
    Ok((StatusCode::CREATED, Json(new.record.to_wire())))
}

#[utoipa::path(get, path = "/users/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(caller.user(&state, id).await?.to_wire()))
}

/// Change a user. Users may change their own name, time zone and quarantine delegate;
/// admins may also change roles.
#[utoipa::path(patch, path = "/users/{id}", tag = "tenancy", params(("id" = Uuid, Path)), request_body = UpdateUser,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    let is_self = caller.user_id() == Some(id);
    let mut user = caller.self_or_managed(&state, id).await?;
    if let Some(name) = &req.display_name {
        user.display_name = validate::name("display_name", name)?;
    }
    let zone_before = user.time_zone.clone();
    if let Some(tz) = &req.time_zone {
        user.time_zone = validate::time_zone("time_zone", tz)?;
    }
    if let Some(role) = req.role.filter(|r| *r != user.role) {
        if is_self {
            return Err(ApiError::invalid("role", "you cannot change your own role"));
        }
        let org_role = matches!(role, Role::User | Role::SpamCzar | Role::OrgAdmin);
        if user.org_id.is_some() != org_role {
            return Err(ApiError::invalid("role", "organisation users are org_admin, spam_czar or user"));
        }
        if !caller.may_grant(role) {
            return Err(ApiError::forbidden());
        }
        user.role = role;
    }
    if let Some(disabled) = req.disabled.filter(|d| *d != user.disabled) {
        if is_self {
            return Err(ApiError::invalid("disabled", "you cannot disable your own account"));
        }
        if !caller.may_grant(user.role) {
            return Err(ApiError::forbidden());
        }
        user.disabled = disabled;
    }
    if let Some(delegate) = req.quarantine_delegate_id {
        user.quarantine_delegate_id = match (delegate, user.org_id) {
            (None, _) => None,
            (Some(d), _) if d == user.id => {
                return Err(ApiError::invalid("quarantine_delegate_id", "a user cannot be its own delegate"));
            }
            (Some(d), Some(org)) => {
                state.store.get_user(Scope::Org(org), d).await?.ok_or_else(|| {
                    ApiError::invalid("quarantine_delegate_id", "the delegate must be a user of the same organisation")
                })?;
                Some(d)
            }
            (Some(_), None) => {
                return Err(ApiError::invalid("quarantine_delegate_id", "only organisation users have quarantines"));
            }
        };
    }
    state.store.update_user(&user).await?;
    if user.time_zone != zone_before {
        // Digest times are local: the scheduler works the next one out again.
        state.store.reschedule_digest(user.id).await?;
    }
    Ok(Json(user.to_wire()))
}

#[utoipa::path(delete, path = "/users/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.manage_user(&state, id).await?;
    if caller.user_id() == Some(id) {
        return Err(ApiError::invalid("id", "you cannot delete your own account"));
    }
    state.store.delete_user(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a new welcome/activation email (the old link stops mattering once one is used).
#[utoipa::path(post, path = "/users/{id}/resend-welcome", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 202), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resend_welcome(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let user = caller.manage_user(&state, id).await?;
    refuse_disabled(&user)?;
    if user.active {
        return Err(ApiError::conflict("id", "the user has already activated the account; reset the password instead"));
    }
    let ((token, mail), _) = accounts::activation_for(&state, &user);
    state.store.issue_token(&token, &mail).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Email the user a password-reset link.
#[utoipa::path(post, path = "/users/{id}/reset-password", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 202), (status = 404, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let user = caller.manage_user(&state, id).await?;
    refuse_disabled(&user)?;
    let (token, mail) = accounts::reset_for(&state, &user);
    state.store.issue_token(&token, &mail).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Put the user's personal settings back to defaults (time zone UTC, no delegate, the
/// default digest schedule).
#[utoipa::path(post, path = "/users/{id}/reset-settings", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn reset_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    let mut user = caller.manage_user(&state, id).await?;
    user.time_zone = "UTC".into();
    user.quarantine_delegate_id = None;
    state.store.update_user(&user).await?;
    if user.org_id.is_some() {
        let row = crate::store::DigestRow {
            user_id: user.id,
            schedule: moat_openapi::DigestSchedule::default(),
            next_at: None,
            last_sent_at: None,
        };
        state.store.save_digest_settings(&row).await?;
    }
    Ok(Json(user.to_wire()))
}

/// The other users of the caller's own organisation (for the delegate picker): id, email and
/// name only. Only organisation users have colleagues.
#[utoipa::path(get, path = "/users/colleagues", tag = "tenancy", params(moat_openapi::PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::Colleague>), (status = 401, body = ErrorBody)))]
pub async fn colleagues(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ApiQuery(p): crate::extract::ApiQuery<moat_openapi::PageParams>,
) -> ApiResult<Json<moat_openapi::ColleagueList>> {
    let paging = crate::store::Paging::new(p.page, p.per_page);
    let Some(org) = caller.user.as_ref().and_then(|u| u.org_id) else {
        return Ok(Json(moat_openapi::ColleagueList::new(Vec::new(), 0, paging.page, paging.per_page)));
    };
    let (users, total) = state.store.list_users(Scope::Org(org), crate::store::UserParent::Org(org), paging).await?;
    let me = caller.user_id();
    let items = users
        .into_iter()
        .filter(|u| Some(u.id) != me)
        .map(|u| moat_openapi::Colleague { id: u.id, email: u.email, display_name: u.display_name })
        .collect();
    // The caller is counted in `total` but not listed.
    Ok(Json(moat_openapi::ColleagueList::new(items, (total - 1).max(0), paging.page, paging.per_page)))
}

/// A disabled account gets no emailed links until an admin enables it again.
fn refuse_disabled(user: &crate::store::UserRecord) -> ApiResult<()> {
    match user.disabled {
        true => Err(ApiError::conflict("id", "the account is disabled; enable it first")),
        false => Ok(()),
    }
}
