//! An organisation's relay servers: the addresses of its own mail servers, which may send
//! outbound mail through Moat for the organisation's domains (and only those: the worker
//! binds the sender to them). Organisation and MSP admins and API keys may name single
//! servers or small networks; only the platform admin may name wider ranges.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{AllowedIp, AllowedIpList, CreateAllowedIp, ErrorBody, PageParams};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::Paging;
use crate::validate;

/// Most relay servers one organisation may list.
pub const MAX_RELAY_SERVERS: usize = 100;

/// The organisation's relay servers, by address.
#[utoipa::path(get, path = "/orgs/{id}/allowed-ips", tag = "tenancy", params(("id" = Uuid, Path), PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::AllowedIp>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_allowed_ips(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<AllowedIpList>> {
    caller.manage_org(&state, id).await?;
    // At most MAX_RELAY_SERVERS rows: paged here rather than in SQL.
    let all = state.store.allowed_ip_rows(id).await?;
    let paging = Paging::new(p.page, p.per_page);
    let total = all.len() as i64;
    let items = all.into_iter().skip(paging.offset() as usize).take(paging.per_page as usize).collect();
    Ok(Json(AllowedIpList::new(items, total, paging.page, paging.per_page)))
}

/// Add a relay server (an address, or a network of at most /24 for IPv4 or /48 for IPv6;
/// the platform admin may add any).
#[utoipa::path(post, path = "/orgs/{id}/allowed-ips", tag = "tenancy", params(("id" = Uuid, Path)), request_body = CreateAllowedIp,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = AllowedIp), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_allowed_ip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateAllowedIp>,
) -> ApiResult<(StatusCode, Json<AllowedIp>)> {
    caller.manage_org(&state, id).await?;
    let cidr = validate::relay_cidr("cidr", &req.cidr, caller.may_set_wide_relay_ranges())?;
    check_room(&state, id, 1).await?;
    let ip = state.store.add_allowed_ip(id, &cidr).await?;
    tracing::info!(org_id = %id, %cidr, "relay server added");
    Ok((StatusCode::CREATED, Json(ip)))
}

/// Remove a relay server.
#[utoipa::path(delete, path = "/orgs/{id}/allowed-ips/{ip_id}", tag = "tenancy",
    params(("id" = Uuid, Path), ("ip_id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_allowed_ip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, ip_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    caller.manage_org(&state, id).await?;
    if !state.store.remove_allowed_ip(id, ip_id).await? {
        return Err(ApiError::not_found());
    }
    tracing::info!(org_id = %id, %ip_id, "relay server removed");
    Ok(StatusCode::NO_CONTENT)
}

/// 422 when `adding` more relay servers would pass [`MAX_RELAY_SERVERS`].
async fn check_room(state: &AppState, org_id: Uuid, adding: usize) -> ApiResult<()> {
    let have = state.store.allowed_ip_rows(org_id).await?.len();
    if have + adding > MAX_RELAY_SERVERS {
        return Err(ApiError::invalid(
            "cidr",
            format!("an organisation lists at most {MAX_RELAY_SERVERS} relay servers"),
        ));
    }
    Ok(())
}
