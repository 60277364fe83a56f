//! The Live Archive: workers hand over a copy of every message they deliver or relay; a user
//! reads, searches and answers its own mail (an admin may open a user's mailbox within its
//! reach, audited); and the continuity state of a domain's destination, with "retry now".

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{MessageParser, MimeHeaders};
use moat_openapi::{
    ArchiveList, ArchiveMessage, ArchiveQuery, ArchiveReadQuery, ArchiveSendRequest, ArchiveSendResult, ArchiveUpload,
    DeliveryReport, DomainDelivery, ErrorBody, MAX_ADDRESS_CHARS, MAX_SUBJECT_CHARS, Role, bounded,
};
use uuid::Uuid;

use crate::archive::compose::{Attachment, Draft, build};
use crate::archive::facts;
use crate::auth::Caller;
use crate::auth::node::WorkerNode;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use crate::state::AppState;
use crate::store::{Filing, NewArchived, Paging, Scope, UserRecord};

/// Most mailbox rows one copy may name, and most destinations one report may carry.
const MAX_MAILBOXES: usize = 1000;
const MAX_DESTINATIONS: usize = 10_000;
/// Most recipients, attachments and characters of text of a message written here.
const MAX_SEND_RECIPIENTS: usize = 50;
const MAX_SEND_ATTACHMENTS: usize = 20;
const MAX_SEND_TEXT_CHARS: usize = 200_000;
/// Messages a user may send from the archive per hour when its organisation sets no
/// outbound limit of its own.
const DEFAULT_HOURLY_SENDS: i64 = 200;

/// A worker hands over one archive copy (idempotent by id). Mailbox addresses that are not
/// users of the copy's organisation are skipped: a worker cannot file mail into another
/// tenant's mailboxes.
#[utoipa::path(post, path = "/worker/archive", tag = "worker", request_body = ArchiveUpload,
    security(("node_token" = [])),
    responses((status = 201), (status = 200), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiJson(a): ApiJson<ArchiveUpload>,
) -> ApiResult<StatusCode> {
    if a.mailboxes.is_empty() || a.mailboxes.len() > MAX_MAILBOXES {
        return Err(ApiError::invalid("mailboxes", format!("give 1 to {MAX_MAILBOXES} mailboxes")));
    }
    if let Some(i) = a
        .mailboxes
        .iter()
        .position(|m| m.address.len() > MAX_ADDRESS_CHARS || m.tracking_id.is_empty() || m.tracking_id.len() > 200)
    {
        return Err(ApiError::invalid(&format!("mailboxes[{i}]"), "address or tracking_id out of bounds"));
    }
    let raw = super::quarantine::upload_raw(&state, &a.id, a.org_id, &a.raw_base64).await?;
    let facts = facts::of(&raw, &bounded(&a.sender, MAX_ADDRESS_CHARS));
    let blob_key = format!("a-{}.eml", a.id);
    state.blobs.put(&blob_key, raw.clone()).await?;
    let filing = state
        .store
        .insert_archive(&NewArchived {
            id: &a.id,
            org_id: a.org_id,
            direction: a.direction,
            received_at: a.received_at,
            size: raw.len() as i64,
            blob_key: &blob_key,
            facts: &facts,
            mailboxes: &a.mailboxes,
        })
        .await?;
    Ok(match filing {
        Filing::New => StatusCode::CREATED,
        Filing::AlreadyThere => StatusCode::OK,
        Filing::NoMailbox => {
            state.blobs.delete(&blob_key).await?;
            StatusCode::OK
        }
    })
}

/// Whose mailbox a request reads: the caller's own, or (organisation admins and up) a
/// user within its reach. Anyone else's answers 404, as if it did not exist.
async fn mailbox_owner(state: &AppState, caller: &Caller, user_id: Option<Uuid>) -> ApiResult<UserRecord> {
    match (user_id, &caller.user) {
        (None, Some(me)) => Ok(me.clone()),
        (Some(id), Some(me)) if id == me.id => Ok(me.clone()),
        (Some(id), _) if caller.role >= Role::OrgAdmin => caller.user(state, id).await,
        (None, None) => Err(ApiError::invalid("user_id", "an API key names the user whose mailbox it reads")),
        _ => Err(ApiError::not_found()),
    }
}

/// An admin's look into someone else's mailbox goes in the audit log.
async fn audit_other(state: &AppState, caller: &Caller, ip: std::net::IpAddr, owner: &UserRecord, what: String) {
    if caller.user_id() != Some(owner.id) {
        crate::audit::note(state, Some(caller), None, ip.to_string(), what, 200, owner.org_id, None).await;
    }
}

/// One mailbox (Inbox or Sent), newest first, searchable.
#[utoipa::path(get, path = "/archive", tag = "archive", params(ArchiveQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::ArchiveItem>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> ApiResult<Json<ArchiveList>> {
    crate::features::require(&state, &caller, moat_openapi::Feature::LiveArchive).await?;
    let owner = mailbox_owner(&state, &caller, q.user_id).await?;
    let paging = Paging::new(q.page, q.per_page);
    let mailbox = q.mailbox.unwrap_or_default();
    let (items, total, capped) = state.store.list_archive(owner.id, mailbox, q.q.as_deref(), paging).await?;
    audit_other(&state, &caller, ip, &owner, format!("opened the archive of {}", owner.email)).await;
    Ok(Json(ArchiveList::of_search(items, total, capped, paging.page, paging.per_page)))
}

/// The archived message `id` of `owner`, with its raw bytes.
async fn archived(state: &AppState, owner: &UserRecord, id: &str) -> ApiResult<(crate::store::Archived, Vec<u8>)> {
    let found = state.store.get_archive(owner.id, id).await?.ok_or_else(ApiError::not_found)?;
    let raw = state.blobs.get(&found.blob_key).await?;
    Ok((found, raw))
}

/// One archived message: fields, header fields, attachments, the sanitized text and HTML,
/// and its conversation.
#[utoipa::path(get, path = "/archive/{id}", tag = "archive", params(("id" = String, Path), ArchiveReadQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = ArchiveMessage), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ArchiveReadQuery>,
) -> ApiResult<Json<ArchiveMessage>> {
    crate::features::require(&state, &caller, moat_openapi::Feature::LiveArchive).await?;
    let owner = mailbox_owner(&state, &caller, q.user_id).await?;
    let (found, raw) = archived(&state, &owner, &id).await?;
    audit_other(&state, &caller, ip, &owner, format!("read the archived message {id} of {}", owner.email)).await;
    let (headers, attachments) = crate::preview::outline(&raw);
    let preview = crate::preview::preview(&raw, q.images.unwrap_or(false));
    let thread = state.store.archive_thread(owner.id, found.item.org_id, &found.item.thread_id).await?;
    Ok(Json(ArchiveMessage { item: found.item, message_id: found.message_id, headers, attachments, preview, thread }))
}

/// One attachment of an archived message (numbered from 0 as the message lists them), as a
/// download: never shown inline, never sniffed.
#[utoipa::path(get, path = "/archive/{id}/attachments/{index}", tag = "archive",
    params(("id" = String, Path), ("index" = usize, Path), ArchiveReadQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub async fn attachment(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    ApiPath((id, index)): ApiPath<(String, usize)>,
    ApiQuery(q): ApiQuery<ArchiveReadQuery>,
) -> ApiResult<Response> {
    crate::features::require(&state, &caller, moat_openapi::Feature::LiveArchive).await?;
    let owner = mailbox_owner(&state, &caller, q.user_id).await?;
    let (_, raw) = archived(&state, &owner, &id).await?;
    let message = MessageParser::default().parse(&raw).ok_or_else(ApiError::not_found)?;
    let part = message.attachment(index as u32).ok_or_else(ApiError::not_found)?;
    let name = download_name(part.attachment_name().unwrap_or("attachment"));
    let bytes = part.contents().to_vec();
    audit_other(&state, &caller, ip, &owner, format!("downloaded attachment {index} of {id} of {}", owner.email)).await;
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (header::CACHE_CONTROL, "private, no-store".to_string()),
    ];
    Ok((headers, bytes).into_response())
}

/// A file name safe inside a quoted `Content-Disposition` value.
fn download_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '/' { c } else { '_' })
        .take(150)
        .collect();
    if clean.trim_matches('_').is_empty() { "attachment".into() } else { clean }
}

/// Writes a message from the caller's own address (compose, reply, reply-all, forward):
/// it goes to the workers, which relay it through the outbound path (BATV-signed,
/// internal recipients queued for their server and filed in their archive) and file it in
/// the caller's Sent folder. Its external recipients become trusted senders for the caller.
#[utoipa::path(post, path = "/archive/send", tag = "archive", request_body = ArchiveSendRequest,
    security(("bearer_jwt" = [])),
    responses((status = 202, body = ArchiveSendResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ArchiveSendRequest>,
) -> ApiResult<(StatusCode, Json<ArchiveSendResult>)> {
    crate::features::require(&state, &caller, moat_openapi::Feature::LiveArchive).await?;
    let me = caller.user.clone().ok_or(ApiError::Forbidden)?;
    let org_id = me.org_id.ok_or(ApiError::Forbidden)?;
    let own_domains = sending_domains(&state, org_id, &me.email).await?;
    let (to, cc) = (addresses("to", &req.to)?, addresses("cc", &req.cc)?);
    if to.is_empty() || to.len() + cc.len() > MAX_SEND_RECIPIENTS {
        return Err(ApiError::invalid("to", format!("give 1 to {MAX_SEND_RECIPIENTS} recipients in all")));
    }
    if req.text.chars().count() > MAX_SEND_TEXT_CHARS {
        return Err(ApiError::invalid("text", format!("at most {MAX_SEND_TEXT_CHARS} characters")));
    }
    let subject = bounded(req.subject.trim(), MAX_SUBJECT_CHARS);
    let limit = match state.store.org_policy(org_id).await?.outbound_hourly_limit {
        0 => DEFAULT_HOURLY_SENDS,
        n => i64::from(n),
    };
    if state.store.sends_since(&me.email, crate::store::now() - chrono::Duration::hours(1)).await? >= limit {
        return Err(ApiError::RateLimited);
    }
    let answers = match &req.in_reply_to {
        Some(id) => {
            let (found, raw) = archived(&state, &me, id)
                .await
                .map_err(|_| ApiError::invalid("in_reply_to", "no such message in your archive"))?;
            Some((found.message_id, facts::of(&raw, "").parents)).filter(|(m, _)| !m.is_empty())
        }
        None => None,
    };
    let mut attachments = match &req.forward_of {
        Some(id) => {
            let (_, raw) = archived(&state, &me, id)
                .await
                .map_err(|_| ApiError::invalid("forward_of", "no such message in your archive"))?;
            attachments_of(&raw)
        }
        None => Vec::new(),
    };
    attachments.extend(new_attachments(&req)?);
    if attachments.len() > MAX_SEND_ATTACHMENTS {
        return Err(ApiError::invalid("attachments", format!("at most {MAX_SEND_ATTACHMENTS} attachments")));
    }
    let recipients: Vec<String> = to.iter().chain(cc.iter()).cloned().collect();
    let draft = Draft {
        from_name: me.display_name.clone(),
        from: me.email.clone(),
        to,
        cc,
        subject,
        text: req.text.clone(),
        answers,
        attachments,
    };
    let (raw, message_id) = build(draft);
    let blob_key = format!("s-{}.eml", Uuid::new_v4().simple());
    state.blobs.put(&blob_key, raw).await?;
    let job_id = state.store.create_send_job(org_id, &me.email, &recipients, &blob_key).await?;
    let external: Vec<moat_openapi::Correspondent> = recipients
        .iter()
        .filter(|r| !own_domains.iter().any(|d| r.rsplit_once('@').is_some_and(|(_, rd)| rd == d)))
        .map(|address| moat_openapi::Correspondent { user_id: me.id, address: address.clone() })
        .collect();
    state.store.record_correspondents(&external).await?;
    tracing::info!(%job_id, sender = %me.email, recipients = recipients.len(), "archive send handed to the workers");
    Ok((StatusCode::ACCEPTED, Json(ArchiveSendResult { job_id, message_id })))
}

/// The organisation's domain names, when the user's own address is on one that may send
/// outbound (otherwise 403: the message could not leave from the user's address).
async fn sending_domains(state: &AppState, org_id: Uuid, email: &str) -> ApiResult<Vec<String>> {
    let (domains, _) = state.store.list_domains(Scope::Org(org_id), org_id, Paging::new(Some(1), Some(500))).await?;
    let own = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !domains.iter().any(|d| d.name == own && d.outbound_enabled) {
        return Err(ApiError::Forbidden);
    }
    Ok(domains.into_iter().map(|d| d.name).collect())
}

fn addresses(field: &str, list: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, a) in list.iter().enumerate().take(MAX_SEND_RECIPIENTS + 1) {
        let a = crate::validate::email(&format!("{field}[{i}]"), a)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// The attachments of a message being forwarded, as they were.
fn attachments_of(raw: &[u8]) -> Vec<Attachment> {
    let Some(message) = MessageParser::default().parse(raw) else { return Vec::new() };
    message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("attachment").to_string(),
            content_type: crate::preview::content_type(part),
            bytes: part.contents().to_vec(),
        })
        .take(MAX_SEND_ATTACHMENTS + 1)
        .collect()
}

fn new_attachments(req: &ArchiveSendRequest) -> ApiResult<Vec<Attachment>> {
    req.attachments
        .iter()
        .enumerate()
        .take(MAX_SEND_ATTACHMENTS + 1)
        .map(|(i, a)| {
            let field = |name: &str| format!("attachments[{i}].{name}");
            let name = crate::validate::text(&field("name"), a.name.trim(), 200)?;
            let bytes = STANDARD
                .decode(a.data_base64.as_bytes())
                .map_err(|_| ApiError::invalid(&field("data_base64"), "not base64"))?;
            let content_type = a
                .content_type
                .clone()
                .filter(|t| t.len() <= 100 && t.split_once('/').is_some() && t.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| "application/octet-stream".into());
            Ok(Attachment { name, content_type, bytes })
        })
        .collect()
}

/// A worker reports the destinations it has mail waiting for (replacing its last report).
#[utoipa::path(post, path = "/worker/delivery", tag = "worker", request_body = DeliveryReport,
    security(("node_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    node: WorkerNode,
    ApiJson(mut report): ApiJson<DeliveryReport>,
) -> ApiResult<StatusCode> {
    if report.destinations.len() > MAX_DESTINATIONS {
        return Err(ApiError::invalid("destinations", format!("at most {MAX_DESTINATIONS} per report")));
    }
    for d in &mut report.destinations {
        d.domain = bounded(&d.domain, 253);
        d.last_error = d.last_error.as_deref().map(|e| bounded(e, 1000));
    }
    state.store.record_delivery_report(node.id, &report).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether the domain's mail server takes mail, since when it does not, and how much mail
/// waits for it (any user of the domain's organisation may ask: its users see the banner).
#[utoipa::path(get, path = "/domains/{id}/delivery", tag = "archive", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = DomainDelivery), (status = 404, body = ErrorBody)))]
pub async fn delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DomainDelivery>> {
    let domain = caller.domain(&state, id).await?;
    Ok(Json(state.store.domain_delivery(&domain).await?))
}

/// Asks the workers to try the domain's waiting mail now (organisation admins and up).
#[utoipa::path(post, path = "/domains/{id}/delivery/retry", tag = "archive", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = DomainDelivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DomainDelivery>> {
    let domain = caller.manage_domain(&state, id).await?;
    state.store.request_retry(domain.id).await?;
    Ok(Json(state.store.domain_delivery(&domain).await?))
}
