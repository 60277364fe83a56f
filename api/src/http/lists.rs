//! Allow/block lists at five levels. Who may change an entry: platform admins (global),
//! MSP admins (their MSP), org admins (their org and its domains and users), and each user
//! for itself. An entry outside the caller's reach does not exist for it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{CreateListEntry, ErrorBody, ListEntry, ListEntryList, ListLevel, ListQuery, ListScope, Role};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::Paging;
use crate::validate;

/// Checks the caller reaches the scope (404 otherwise) and, with `manage`, may change it (403).
async fn check_scope(state: &AppState, caller: &Caller, scope: &ListScope, manage: bool) -> ApiResult<()> {
    let id = || scope.id.ok_or_else(|| ApiError::invalid("scope.id", "this level needs an id"));
    match scope.level {
        ListLevel::Global => {
            if scope.id.is_some() {
                return Err(ApiError::invalid("scope.id", "global entries have no id"));
            }
            if manage {
                caller.require(Role::PlatformAdmin)?;
            }
        }
        ListLevel::Msp => {
            let id = id()?;
            if manage {
                caller.manage_msp(state, id).await.map(drop)?
            } else {
                caller.msp(state, id).await.map(drop)?
            }
        }
        ListLevel::Org => {
            let id = id()?;
            if manage {
                caller.manage_org(state, id).await.map(drop)?
            } else {
                caller.org(state, id).await.map(drop)?
            }
        }
        ListLevel::Domain => {
            let id = id()?;
            if manage {
                caller.manage_domain(state, id).await.map(drop)?
            } else {
                caller.domain(state, id).await.map(drop)?
            }
        }
        ListLevel::User => {
            let id = id()?;
            let own = caller.user_id() == Some(id);
            if manage && !own {
                caller.manage_user(state, id).await.map(drop)?
            } else {
                caller.user(state, id).await.map(drop)?
            }
        }
    }
    Ok(())
}

/// Add an allow or block entry.
#[utoipa::path(post, path = "/lists", tag = "policy", request_body = CreateListEntry,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = ListEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateListEntry>,
) -> ApiResult<(StatusCode, Json<ListEntry>)> {
    let pattern = validate::list_pattern("pattern", &req.pattern)?;
    check_scope(&state, &caller, &req.scope, true).await?;
    let entry = state.store.create_list_entry(&req.scope, req.kind, &pattern).await?;
    tracing::info!(entry = %entry.id, level = %moat_openapi::wire_name(&entry.scope.level), "list entry added");
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Entries within the caller's reach (global entries are visible to everyone).
#[utoipa::path(get, path = "/lists", tag = "policy", params(ListQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::ListEntry>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ListEntryList>> {
    let paging = Paging::new(q.page, q.per_page);
    let (items, total) = state.store.search_list_entries(caller.scope, &q, paging).await?;
    Ok(Json(ListEntryList::new(items, total, paging.page, paging.per_page)))
}

/// Remove an entry.
#[utoipa::path(delete, path = "/lists/{id}", tag = "policy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let entry = state.store.get_list_entry(id).await?.ok_or_else(ApiError::not_found)?;
    // The managing check looks the scope up within reach first (404), then the role (403).
    check_scope(&state, &caller, &entry.scope, true).await?;
    state.store.delete_list_entry(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's reverse whitelist: the outside addresses it wrote to recently, whose mail to it
/// skips spam filtering (the user itself, or an admin of its organisation).
#[utoipa::path(get, path = "/users/{id}/correspondents", tag = "policy", params(("id" = Uuid, Path), moat_openapi::CorrespondentQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::CorrespondentEntry>), (status = 404, body = ErrorBody)))]
pub async fn correspondents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<moat_openapi::CorrespondentQuery>,
) -> ApiResult<Json<moat_openapi::CorrespondentList>> {
    caller.self_or_managed(&state, id).await?;
    let paging = Paging::new(q.page, q.per_page);
    let (items, total) = state.store.user_correspondents(id, state.config.reverse_whitelist_days, paging).await?;
    Ok(Json(moat_openapi::CorrespondentList::new(items, total, paging.page, paging.per_page)))
}

/// Remove an address from a user's reverse whitelist (`?address=`): its mail is filtered
/// again until the user writes to it anew.
#[utoipa::path(delete, path = "/users/{id}/correspondents", tag = "policy", params(("id" = Uuid, Path), moat_openapi::CorrespondentQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn forget_correspondent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<moat_openapi::CorrespondentQuery>,
) -> ApiResult<StatusCode> {
    caller.self_or_managed(&state, id).await?;
    let address = q.address.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let Some(address) = address else { return Err(ApiError::invalid("address", "name the address to remove")) };
    if !state.store.forget_correspondent(id, address).await? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
