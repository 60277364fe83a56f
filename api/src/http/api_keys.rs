//! Integration API keys (ConnectWise, Kaseya and scripts): scoped to an MSP or an
//! organisation, with full or read-only access, shown once, stored hashed, revocable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{ApiKeyList, CreateApiKey, CreatedApiKey, ErrorBody, KeyScopeLevel, Role};
use uuid::Uuid;

use crate::auth::Caller;
use crate::auth::tokens::{API_KEY_PREFIX, random_secret, sha256_hex};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::validate;

/// Live keys within the caller's reach.
#[utoipa::path(get, path = "/api-keys", tag = "integrations",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::ApiKey>), (status = 403, body = ErrorBody)))]
pub async fn list_api_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ApiKeyList>> {
    caller.require(Role::OrgAdmin)?;
    let keys = state.store.list_api_keys(caller.scope).await?;
    let total = keys.len() as i64;
    let per_page = u32::try_from(keys.len()).unwrap_or(u32::MAX).max(1);
    Ok(Json(ApiKeyList::new(keys.iter().map(|k| k.to_wire()).collect(), total, 1, per_page)))
}

/// Create a key; the `secret` in the answer is shown this once.
#[utoipa::path(post, path = "/api-keys", tag = "integrations", request_body = CreateApiKey,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let name = validate::name("name", &req.name)?;
    match req.scope.level {
        KeyScopeLevel::Msp => caller.manage_msp(&state, req.scope.id).await.map(|_| ())?,
        KeyScopeLevel::Org => caller.manage_org(&state, req.scope.id).await.map(|_| ())?,
    }
    let secret = format!("{API_KEY_PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(12).collect();
    let hash = sha256_hex(&secret);
    let record = state.store.create_api_key(&name, &prefix, &hash, &req.scope, req.access, caller.user_id()).await?;
    tracing::info!(key_id = %record.id, access = ?record.access, "api key created");
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key: record.to_wire(), secret })))
}

/// Revoke a key; it stops working at once.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "integrations", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let key = state.store.get_api_key(caller.scope, id).await?.ok_or_else(crate::error::ApiError::not_found)?;
    caller.require(Role::OrgAdmin)?;
    state.store.revoke_api_key(key.id).await?;
    tracing::info!(key_id = %id, "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}
