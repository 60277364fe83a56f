//! The platform's own outbox as the platform admin sees it: whether a delivery path is
//! configured, what waits, what failed and why. Bodies are never shown (they carry links
//! with tokens).

use axum::Json;
use axum::extract::State;
use moat_openapi::{ErrorBody, Role, SystemMailItem, SystemMailList, SystemMailState, SystemMailStatus};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::store::Paging;

/// How system mail leaves, and how much waits or failed.
#[utoipa::path(get, path = "/system-mail/state", tag = "meta",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = SystemMailState), (status = 403, body = ErrorBody)))]
pub async fn system_mail_state(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SystemMailState>> {
    caller.require(Role::PlatformAdmin)?;
    let (pending, failed) = state.store.system_mail_counts().await?;
    let via = state.config.system_mail_via;
    let configured = via == moat_openapi::SystemMailVia::Worker || state.config.smtp_relay.is_some();
    Ok(Json(SystemMailState { delivery_configured: configured, via, pending, failed }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SystemMailQuery {
    /// Only mail in this state.
    pub status: Option<SystemMailStatus>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// System mail, newest first.
#[utoipa::path(get, path = "/system-mail", tag = "meta", params(SystemMailQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<SystemMailItem>), (status = 403, body = ErrorBody)))]
pub async fn list_system_mail(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SystemMailQuery>,
) -> ApiResult<Json<SystemMailList>> {
    caller.require(Role::PlatformAdmin)?;
    let paging = Paging::new(q.page, q.per_page);
    let (items, total) = state.store.list_system_mail(q.status, paging).await?;
    Ok(Json(SystemMailList::new(items, total, paging.page, paging.per_page)))
}
