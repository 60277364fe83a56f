//! Quarantine: the worker hands held messages over; users, spam czars and admins list them
//! within their reach.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moat_openapi::{
    ActionResult, ErrorBody, MAX_ACTION_IDS, MAX_ADDRESS_CHARS, MAX_MESSAGE_ID_CHARS, MAX_SUBJECT_CHARS, PreviewQuery,
    QuarantineIds, QuarantineItem, QuarantineList, QuarantineMessage, QuarantinePreview, QuarantineQuery,
    QuarantineSummary, QuarantineUpload, ReleaseRequest, ReportRequest, ReviewedRequest, Role, bounded,
};

use crate::auth::Caller;
use crate::auth::node::WorkerNode;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Paging, Scope};

/// A worker hands over one quarantined copy (idempotent by id).
#[utoipa::path(post, path = "/worker/quarantine", tag = "worker", request_body = QuarantineUpload,
    security(("node_token" = [])),
    responses((status = 201), (status = 200), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiJson(mut q): ApiJson<QuarantineUpload>,
) -> ApiResult<StatusCode> {
    q.subject = bounded(&q.subject, MAX_SUBJECT_CHARS);
    q.sender = bounded(&q.sender, MAX_ADDRESS_CHARS);
    q.message_id = bounded(&q.message_id, MAX_MESSAGE_ID_CHARS);
    match q.direction {
        // An outbound hold belongs to the organisation's admins, never to one user.
        moat_openapi::Direction::Outbound => q.user_id = None,
        moat_openapi::Direction::Inbound => {}
        moat_openapi::Direction::Bounce => {
            return Err(ApiError::invalid("direction", "held copies are inbound or outbound"));
        }
    }
    let raw = upload_raw(&state, &q.id, q.org_id, &q.raw_base64).await?;
    let blob_key = format!("q-{}.eml", q.id);
    state.blobs.put(&blob_key, raw.clone()).await?;
    let created = state.store.insert_quarantine(&q, raw.len() as i64, &blob_key).await?;
    Ok(if created { StatusCode::CREATED } else { StatusCode::OK })
}

/// The raw bytes of a worker's upload (quarantine or archive copy), once its id (which names
/// a blob) and its organisation are checked.
pub async fn upload_raw(state: &AppState, id: &str, org_id: uuid::Uuid, raw_base64: &str) -> ApiResult<Vec<u8>> {
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return Err(ApiError::invalid("id", "id must be 1 to 200 letters, digits, dots or dashes"));
    }
    let raw = STANDARD.decode(raw_base64.as_bytes()).map_err(|_| ApiError::invalid("raw_base64", "not base64"))?;
    if state.store.get_org(Scope::Platform, org_id).await?.is_none() {
        return Err(ApiError::invalid("org_id", "no such organisation"));
    }
    Ok(raw)
}

/// Quarantined messages within the caller's reach, newest first.
#[utoipa::path(get, path = "/quarantine", tag = "quarantine", params(QuarantineQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::QuarantineItem>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    ApiQuery(q): ApiQuery<QuarantineQuery>,
) -> ApiResult<Json<QuarantineList>> {
    let paging = Paging::new(q.page, q.per_page);
    let (mut items, total, total_capped) = state.store.list_quarantine(caller.scope, &q, paging).await?;
    if let Some(user) = q.user_id.filter(|u| Some(*u) != caller.user_id() && caller.role >= Role::SpamCzar) {
        let action = format!("opened the quarantine of user {user}");
        crate::audit::note(&state, Some(&caller), None, ip.to_string(), action, 200, caller.scope.org_filter(), None)
            .await;
    }
    explain_all(&state, &mut items).await?;
    Ok(Json(QuarantineList::of_search(items, total, total_capped, paging.page, paging.per_page)))
}

/// Fills in each item's plain-word explanation, under its organisation's threshold.
async fn explain_all(state: &AppState, items: &mut [QuarantineItem]) -> ApiResult<()> {
    let mut thresholds = std::collections::HashMap::new();
    for item in items.iter_mut() {
        let at = match thresholds.get(&item.org_id) {
            Some(at) => *at,
            None => {
                let at = state.store.org_policy(item.org_id).await?.quarantine_threshold;
                thresholds.insert(item.org_id, at);
                at
            }
        };
        item.explanation = Some(crate::reasons::explain(&item.reasons, item.score, at));
    }
    Ok(())
}

/// The message `id` within the caller's reach, with its raw bytes.
async fn held(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(QuarantineItem, Vec<u8>)> {
    let (item, blob_key) = state.store.get_quarantine(caller.scope, id).await?.ok_or_else(ApiError::not_found)?;
    let raw = state.blobs.get(&blob_key).await?;
    Ok((item, raw))
}

/// A spam czar's or an admin's read of someone else's message goes in the audit log (a
/// delegate's is its job, a user's own is its business).
async fn audit_read(state: &AppState, caller: &Caller, ip: std::net::IpAddr, item: &QuarantineItem) {
    if item.user_id != caller.user_id() && caller.role >= Role::SpamCzar {
        let action = format!("read the message {} to {}", item.id, item.recipient);
        crate::audit::note(state, Some(caller), None, ip.to_string(), action, 200, Some(item.org_id), None).await;
    }
}

/// One quarantined message: its fields, header fields and attachment list.
#[utoipa::path(get, path = "/quarantine/{id}", tag = "quarantine", params(("id" = String, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = QuarantineMessage), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<QuarantineMessage>> {
    let (mut item, raw) = held(&state, &caller, &id).await?;
    audit_read(&state, &caller, ip, &item).await;
    explain_all(&state, std::slice::from_mut(&mut item)).await?;
    let (headers, attachments) = crate::preview::outline(&raw);
    Ok(Json(QuarantineMessage { item, headers, attachments }))
}

/// What the message shows, made safe (see `QuarantinePreview`).
#[utoipa::path(get, path = "/quarantine/{id}/preview", tag = "quarantine", params(("id" = String, Path), PreviewQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = QuarantinePreview), (status = 404, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> ApiResult<Json<QuarantinePreview>> {
    let (item, raw) = held(&state, &caller, &id).await?;
    audit_read(&state, &caller, ip, &item).await;
    Ok(Json(crate::preview::preview(&raw, q.images.unwrap_or(false))))
}

/// The raw message, for organisation admins and up, as a download (never rendered by the
/// browser: `message/rfc822` attachment with `nosniff`).
#[utoipa::path(get, path = "/quarantine/{id}/raw", tag = "quarantine", params(("id" = String, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, content_type = "message/rfc822"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn raw(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (item, raw) = held(&state, &caller, &id).await?;
    caller.require(Role::OrgAdmin)?;
    let action = format!("downloaded the raw message {} to {}", item.id, item.recipient);
    crate::audit::note(&state, Some(&caller), None, ip.to_string(), action, 200, Some(item.org_id), None).await;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "message/rfc822".to_string()),
        (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.eml\"", item.id)),
        (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (axum::http::header::CACHE_CONTROL, "private, no-store".to_string()),
    ];
    Ok((headers, raw).into_response())
}

/// The distinct ids of an action, checked: 1 to 1,000 of them, every one within the
/// caller's reach (otherwise 404, and nothing changes).
async fn ids_in_reach(state: &AppState, caller: &Caller, ids: &[String]) -> ApiResult<Vec<String>> {
    let mut distinct: Vec<String> = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() || distinct.len() > MAX_ACTION_IDS {
        return Err(ApiError::invalid("ids", format!("give 1 to {MAX_ACTION_IDS} message ids")));
    }
    if distinct.iter().any(|id| id.is_empty() || id.len() > 200) {
        return Err(ApiError::invalid("ids", "a message id has 1 to 200 characters"));
    }
    if state.store.quarantine_in_reach(caller.scope, &distinct).await? != distinct.len() as i64 {
        return Err(ApiError::not_found());
    }
    Ok(distinct)
}

/// Marks messages reviewed (or unread again).
#[utoipa::path(post, path = "/quarantine/reviewed", tag = "quarantine", request_body = ReviewedRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = ActionResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mark_reviewed(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReviewedRequest>,
) -> ApiResult<Json<ActionResult>> {
    let ids = ids_in_reach(&state, &caller, &req.ids).await?;
    let affected = state.store.set_reviewed(caller.scope, &ids, req.reviewed).await?;
    Ok(Json(ActionResult { affected }))
}

/// Deletes messages for good (rows and raw bytes).
#[utoipa::path(post, path = "/quarantine/delete", tag = "quarantine", request_body = QuarantineIds,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = ActionResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_many(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<QuarantineIds>,
) -> ApiResult<Json<ActionResult>> {
    let ids = ids_in_reach(&state, &caller, &req.ids).await?;
    let keys = state.store.delete_quarantine(caller.scope, &ids).await?;
    for key in &keys {
        // The rows are gone; a blob left behind is only disk (logged), never shown again.
        if let Err(err) = state.blobs.delete(key).await {
            tracing::warn!(%err, %key, "cannot remove a deleted message's raw bytes");
        }
    }
    Ok(Json(ActionResult { affected: keys.len() as i64 }))
}

/// Unread and total counts within the caller's reach, and per user (the SPA's badge).
#[utoipa::path(get, path = "/quarantine/summary", tag = "quarantine",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = QuarantineSummary), (status = 401, body = ErrorBody)))]
pub async fn summary(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<QuarantineSummary>> {
    Ok(Json(state.store.quarantine_summary(caller.scope).await?))
}

/// Reports messages as spam or not spam: the organisation's classifier (its own model,
/// which workers train and reload) learns them; they are marked reviewed.
#[utoipa::path(post, path = "/quarantine/report", tag = "quarantine", request_body = ReportRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = ActionResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReportRequest>,
) -> ApiResult<Json<ActionResult>> {
    let ids = ids_in_reach(&state, &caller, &req.ids).await?;
    let affected = state.store.add_feedback(caller.scope, &ids, req.spam).await?;
    state.store.set_reviewed(caller.scope, &ids, true).await?;
    Ok(Json(ActionResult { affected }))
}

/// Who the caller is, as `X-Moat-Released` names it.
fn releaser(caller: &Caller) -> String {
    match (&caller.user, caller.api_key_id) {
        (Some(user), _) => user.email.clone(),
        (None, Some(key)) => format!("API key {key}"),
        (None, None) => "unknown".into(),
    }
}

/// Releases messages to their recipients: a job per message that a worker delivers to the
/// recipient's destination with `X-Moat-Released` (releasing twice delivers once). With
/// `allow_sender`, each sender also goes on its recipient's own allow list.
#[utoipa::path(post, path = "/quarantine/release", tag = "quarantine", request_body = ReleaseRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 202, body = ActionResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReleaseRequest>,
) -> ApiResult<(StatusCode, Json<ActionResult>)> {
    let ids = ids_in_reach(&state, &caller, &req.ids).await?;
    if req.allow_sender {
        allow_senders_of(&state, caller.scope, &ids).await?;
    }
    let affected = state.store.create_release_jobs(caller.scope, &ids, &releaser(&caller)).await?;
    // What a user releases is not spam: the organisation's classifier learns it as ham.
    state.store.add_feedback(caller.scope, &ids, false).await?;
    tracing::info!(messages = ids.len(), new_jobs = affected, by = %releaser(&caller), "quarantined messages released");
    Ok((StatusCode::ACCEPTED, Json(ActionResult { affected })))
}

/// Puts the sender of each message on its recipient's own allow list (once).
pub(super) async fn allow_senders_of(state: &AppState, scope: Scope, ids: &[String]) -> ApiResult<()> {
    for id in ids {
        let Some((item, _)) = state.store.get_quarantine(scope, id).await? else { continue };
        let (Some(user), Ok(pattern)) = (item.user_id, crate::validate::list_pattern("sender", &item.sender)) else {
            continue;
        };
        let scope = moat_openapi::ListScope { level: moat_openapi::ListLevel::User, id: Some(user) };
        match state.store.create_list_entry(&scope, moat_openapi::ListKind::Allow, &pattern).await {
            Ok(_) | Err(crate::store::StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
