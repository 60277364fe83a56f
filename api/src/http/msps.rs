//! MSPs (resellers) and their admins. Creating MSPs is the platform admin's job.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{CreateMsp, CreateUser, ErrorBody, Msp, MspList, PageParams, Role, UpdateMsp, User, UserList};
use uuid::Uuid;

use crate::accounts::{self, Home};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Paging, UserParent};
use crate::validate;

/// MSPs the caller can see.
#[utoipa::path(get, path = "/msps", tag = "tenancy", params(PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::Msp>), (status = 401, body = ErrorBody)))]
pub async fn list_msps(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<MspList>> {
    let paging = Paging::new(p.page, p.per_page);
    if caller.scope.org_filter().is_some() {
        return Ok(Json(MspList::new(vec![], 0, paging.page, paging.per_page)));
    }
    let (items, total) = state.store.list_msps(caller.scope, paging).await?;
    Ok(Json(MspList::new(items, total, paging.page, paging.per_page)))
}

/// Create an MSP (platform admin).
#[utoipa::path(post, path = "/msps", tag = "tenancy", request_body = CreateMsp,
    security(("bearer_jwt" = [])),
    responses((status = 201, body = Msp), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_msp(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateMsp>,
) -> ApiResult<(StatusCode, Json<Msp>)> {
    caller.require(Role::PlatformAdmin)?;
    let name = validate::name("name", &req.name)?;
    let msp = state.store.create_msp(&name).await?;
    tracing::info!(msp_id = %msp.id, "msp created");
    Ok((StatusCode::CREATED, Json(msp)))
}

#[utoipa::path(get, path = "/msps/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Msp), (status = 404, body = ErrorBody)))]
pub async fn get_msp(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Msp>> {
    Ok(Json(caller.msp(&state, id).await?))
}

/// Rename an MSP (platform admin, or the MSP's own admin).
#[utoipa::path(patch, path = "/msps/{id}", tag = "tenancy", params(("id" = Uuid, Path)), request_body = UpdateMsp,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Msp), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_msp(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateMsp>,
) -> ApiResult<Json<Msp>> {
    let mut msp = caller.manage_msp(&state, id).await?;
    if let Some(name) = &req.name {
        msp.name = validate::name("name", name)?;
        state.store.rename_msp(id, &msp.name).await?;
    }
    Ok(Json(msp))
}

/// Delete an MSP that has no organisations (platform admin).
#[utoipa::path(delete, path = "/msps/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_msp(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.msp(&state, id).await?;
    caller.require(Role::PlatformAdmin)?;
    state.store.delete_msp(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The MSP's admins.
#[utoipa::path(get, path = "/msps/{id}/users", tag = "tenancy", params(("id" = Uuid, Path), PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::User>), (status = 404, body = ErrorBody)))]
pub async fn list_msp_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<UserList>> {
    caller.msp(&state, id).await?;
    let paging = Paging::new(p.page, p.per_page);
    let (items, total) = state.store.list_users(caller.scope, UserParent::Msp(id), paging).await?;
    Ok(Json(UserList::new(items, total, paging.page, paging.per_page)))
}

/// Add an MSP admin (`role` must be `msp_admin`).
#[utoipa::path(post, path = "/msps/{id}/users", tag = "tenancy", params(("id" = Uuid, Path)), request_body = CreateUser,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_msp_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.manage_msp(&state, id).await?;
    let new = accounts::build_new_user(&state, &req, Home::Msp(id)).await?;
    if !caller.may_grant(req.role) {
        return Err(ApiError::forbidden());
    }
    state.store.create_user(&new).await?;
    Ok((StatusCode::CREATED, Json(new.record.to_wire())))
}
