//! Customer organisations (tenants) and their filtering policy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{CreateOrg, ErrorBody, Org, OrgList, OrgListParams, Policy, Role, UpdateOrg};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Paging, Scope};
use crate::validate;

/// Organisations the caller can see.
#[utoipa::path(get, path = "/orgs", tag = "tenancy", params(OrgListParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::Org>), (status = 401, body = ErrorBody)))]
pub async fn list_orgs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<OrgListParams>,
) -> ApiResult<Json<OrgList>> {
    let paging = Paging::new(p.page, p.per_page);
    let (items, total) = state.store.list_orgs(caller.scope, paging).await?;
    Ok(Json(OrgList::new(items, total, paging.page, paging.per_page)))
}

/// Create an organisation under an MSP (`msp_id` required for platform admins).
#[utoipa::path(post, path = "/orgs", tag = "tenancy", request_body = CreateOrg,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = Org), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    caller.require(Role::MspAdmin)?;
    let name = validate::name("name", &req.name)?;
    let msp_id = match (req.msp_id, caller.scope) {
        (Some(id), _) => caller.msp(&state, id).await?.id,
        (None, Scope::Msp(own)) => own,
        (None, _) => return Err(ApiError::invalid("msp_id", "msp_id is required")),
    };
    let org = state.store.create_org(msp_id, &name).await?;
    tracing::info!(org_id = %org.id, %msp_id, "org created");
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/orgs/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Org), (status = 404, body = ErrorBody)))]
pub async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Org>> {
    Ok(Json(caller.org(&state, id).await?))
}

/// Rename an organisation (its admins and above).
#[utoipa::path(patch, path = "/orgs/{id}", tag = "tenancy", params(("id" = Uuid, Path)), request_body = UpdateOrg,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Org), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateOrg>,
) -> ApiResult<Json<Org>> {
    let mut org = caller.manage_org(&state, id).await?;
    if let Some(name) = &req.name {
        org.name = validate::name("name", name)?;
        state.store.rename_org(id, &org.name).await?;
    }
    Ok(Json(org))
}

/// Delete an organisation with its domains and users (MSP admins and above).
#[utoipa::path(delete, path = "/orgs/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.org(&state, id).await?;
    caller.require(Role::MspAdmin)?;
    state.store.delete_org(id).await?;
    tracing::info!(org_id = %id, "org deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The organisation's filtering policy (defaults until one is saved).
#[utoipa::path(get, path = "/orgs/{id}/policy", tag = "policy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Policy), (status = 404, body = ErrorBody)))]
pub async fn get_org_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Policy>> {
    caller.org(&state, id).await?;
    Ok(Json(state.store.org_policy(id).await?))
}

/// Replace the organisation's filtering policy.
#[utoipa::path(put, path = "/orgs/{id}/policy", tag = "policy", params(("id" = Uuid, Path)), request_body = Policy,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Policy), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_org_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    caller.manage_org(&state, id).await?;
    let policy = validate::policy("policy", &req)?;
    state.store.put_org_policy(id, &policy).await?;
    Ok(Json(policy))
}
