//! Message tracking: every message the workers saw, its verdict, reasons and delivery
//! attempts, searchable within the caller's reach.

use axum::Json;
use axum::extract::State;
use moat_openapi::{
    ErrorBody, IpReputationList, MessageQuery, ReputationQuery, Role, TrackedMessageDetail, TrackedMessageList,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::Paging;

/// Plain users track only mail addressed to them.
fn own_address(caller: &Caller) -> Option<&str> {
    (caller.role == Role::User).then(|| caller.user.as_ref().map(|u| u.email.as_str())).flatten()
}

/// A plain user sees itself among a message's recipients, never the others (Bcc, and
/// colleagues it was not told about).
fn only_own(recipients: &mut Vec<String>, own: &str) {
    recipients.retain(|r| r.eq_ignore_ascii_case(own));
}

/// Search tracked messages (newest first).
#[utoipa::path(get, path = "/messages", tag = "tracking", params(MessageQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::TrackedMessage>), (status = 401, body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> ApiResult<Json<TrackedMessageList>> {
    let paging = Paging::new(q.page, q.per_page);
    let (mut items, total, total_capped) =
        state.store.list_messages(caller.scope, own_address(&caller), &q, paging).await?;
    if let Some(own) = own_address(&caller) {
        items.iter_mut().for_each(|m| only_own(&mut m.recipients, own));
    }
    Ok(Json(TrackedMessageList::of_search(items, total, total_capped, paging.page, paging.per_page)))
}

/// One tracked message with its events.
#[utoipa::path(get, path = "/messages/{id}", tag = "tracking", params(("id" = String, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = TrackedMessageDetail), (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TrackedMessageDetail>> {
    let (mut message, mut events) =
        state.store.get_message(caller.scope, own_address(&caller), &id).await?.ok_or_else(ApiError::not_found)?;
    if let Some(own) = own_address(&caller) {
        only_own(&mut message.recipients, own);
        events.iter_mut().for_each(|e| only_own(&mut e.detail.recipients, own));
    }
    Ok(Json(TrackedMessageDetail { message, events }))
}

/// IP reputation as the workers share it (admins): one address/network, or the latest seen.
/// Organisation and MSP admins see only addresses that sent mail to their own organisations.
#[utoipa::path(get, path = "/reputation", tag = "tracking", params(ReputationQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::IpReputation>), (status = 403, body = ErrorBody)))]
pub async fn list_reputation(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReputationQuery>,
) -> ApiResult<Json<IpReputationList>> {
    caller.require(Role::OrgAdmin)?;
    let paging = Paging::new(q.page, q.per_page);
    let ip = q.ip.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (items, total) = state.store.list_reputation(caller.scope, ip, paging).await?;
    Ok(Json(IpReputationList::new(items, total, paging.page, paging.per_page)))
}
