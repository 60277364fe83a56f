//! Login, the caller's identity, activation and password reset.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{
    ActivateRequest, ChangePassword, ErrorBody, LoginRequest, LoginResponse, Me, PasswordResetConfirm,
    PasswordResetRequest,
};

use crate::accounts::{self, ACTIVATION, PASSWORD_RESET};
use crate::auth::Caller;
use crate::auth::passwords;
use crate::auth::tokens::sha256_hex;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;

/// Log in with email and password for a bearer access token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let email = req.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 {
        return Err(ApiError::invalid("email", "email is required"));
    }
    if state.login_by_ip.check_key(&ip).is_err() || state.login_by_account.check_key(&email).is_err() {
        state.metrics.login("rate_limited");
        tracing::warn!(%email, "login rate limited");
        audit_login(&state, None, &email, ip, 429, None).await;
        return Err(ApiError::RateLimited);
    }
    let user = state.store.user_by_email(&email).await?;
    let ok = passwords::verify(&req.password, user.as_ref().and_then(|u| u.password_hash.as_deref())).await;
    let user = match user {
        Some(u) if ok && u.active && !u.disabled => u,
        other => {
            state.metrics.login("failed");
            tracing::info!(%email, "login failed");
            audit_login(&state, None, &email, ip, 401, other.and_then(|u| u.org_id)).await;
            return Err(ApiError::Unauthorized("wrong email or password"));
        }
    };
    state.metrics.login("ok");
    audit_login(&state, Caller::for_user(user.clone()).ok().as_ref(), &email, ip, 200, user.org_id).await;
    let access_token = state.jwt.issue(&user)?;
    Ok(Json(LoginResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
        user: user.to_wire(),
    }))
}

/// The caller, its role and its reach.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let reach = caller.reach(&state).await?;
    let (domain_id, banner) =
        match caller.user.as_ref().and_then(|u| Some((u.org_id?, u.email.rsplit_once('@')?.1.to_string()))) {
            Some((org, domain)) => state.store.domain_banner(org, &domain).await?,
            None => (None, None),
        };
    let features = crate::features::enabled_for(&state, &caller).await?;
    Ok(Json(Me {
        features,
        user: caller.user.as_ref().map(|u| u.to_wire()),
        role: caller.role,
        via: if caller.api_key_id.is_some() {
            moat_openapi::CallerKind::ApiKey
        } else {
            moat_openapi::CallerKind::User
        },
        reach,
        banner,
        domain_id,
    }))
}

/// Records a login attempt in the audit log, under the email it was tried with.
async fn audit_login(
    state: &AppState,
    caller: Option<&Caller>,
    email: &str,
    ip: std::net::IpAddr,
    status: u16,
    org: Option<uuid::Uuid>,
) {
    let action = if status == 200 { "login" } else { "login (refused)" };
    crate::audit::note(state, caller, Some(email), ip.to_string(), action.into(), status, org, None).await;
}

/// Set the first password with the token from the welcome email.
#[utoipa::path(post, path = "/auth/activate", tag = "auth", request_body = ActivateRequest,
    responses((status = 204), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn activate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> ApiResult<StatusCode> {
    set_password_with_token(&state, ip, ACTIVATION, &req.token, &req.password).await
}

/// Ask for a password-reset email. Answers 202 whether or not the account exists.
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202), (status = 429, body = ErrorBody)))]
pub async fn password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    let email = req.email.trim().to_lowercase();
    if state.login_by_ip.check_key(&ip).is_err() || state.login_by_account.check_key(&email).is_err() {
        return Err(ApiError::RateLimited);
    }
    if let Some(user) = state.store.user_by_email(&email).await?.filter(|u| !u.disabled) {
        let (token, mail) = accounts::reset_for(&state, &user);
        state.store.issue_token(&token, &mail).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// Choose a new password with the token from the reset email.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn password_reset_confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    set_password_with_token(&state, ip, PASSWORD_RESET, &req.token, &req.password).await
}

/// Rate limited per client like login; the token is checked before the (deliberately slow)
/// password hash is computed, so guessing tokens costs the server nothing much.
async fn set_password_with_token(
    state: &AppState,
    ip: std::net::IpAddr,
    purpose: &str,
    token: &str,
    password: &str,
) -> ApiResult<StatusCode> {
    if state.login_by_ip.check_key(&ip).is_err() {
        return Err(ApiError::RateLimited);
    }
    let invalid = || ApiError::invalid("token", "this link is invalid, used or expired");
    let token_hash = sha256_hex(token.trim());
    state.store.token_user(purpose, &token_hash).await?.ok_or_else(invalid)?;
    passwords::validate("password", password)?;
    let hash = passwords::hash(password).await?;
    let user_id = state.store.consume_token(purpose, &token_hash).await?.ok_or_else(invalid)?;
    state.store.set_password(user_id, &hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the caller's own password. Every access token issued before stops working; the
/// answer carries a fresh one for this session.
#[utoipa::path(post, path = "/auth/change-password", tag = "auth", request_body = ChangePassword,
    security(("bearer_jwt" = [])),
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<Json<LoginResponse>> {
    let user =
        caller.user.as_ref().ok_or_else(|| ApiError::invalid("current_password", "API keys have no password"))?;
    if !passwords::verify(&req.current_password, user.password_hash.as_deref()).await {
        return Err(ApiError::invalid("current_password", "the current password is wrong"));
    }
    passwords::validate("new_password", &req.new_password)?;
    let hash = passwords::hash(&req.new_password).await?;
    state.store.set_password(user.id, &hash).await?;
    let mut user = user.clone();
    user.password_hash = Some(hash);
    Ok(Json(LoginResponse {
        access_token: state.jwt.issue(&user)?,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
        user: user.to_wire(),
    }))
}
