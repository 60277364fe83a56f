//! The worker channel: nodes register, pull the policy snapshot (and long-poll for changes),
//! and push message events. Node tokens only.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moat_openapi::{
    ChangesParams, CorrespondentBatch, ErrorBody, EventAck, EventBatch, JobDone, MessageEvent, NodeInfo,
    OutboundCountChanges, OutboundCountExchange, PolicySnapshot, RegisterNode, ReputationChanges, ReputationParams,
    ReputationPush, WorkerJob, WorkerJobBatch, WorkerJobKind,
};

use uuid::Uuid;

use crate::auth::node::WorkerNode;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Most events one batch may carry.
const MAX_BATCH: usize = 5000;
/// How often a long-poll looks at the policy version (the database is the only shared
/// state between API replicas, so changes made through any replica are seen).
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A node announces itself; answers its id and name.
#[utoipa::path(post, path = "/worker/register", tag = "worker", request_body = RegisterNode,
    security(("node_token" = [])),
    responses((status = 200, body = NodeInfo), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    node: WorkerNode,
    ApiJson(req): ApiJson<RegisterNode>,
) -> ApiResult<Json<NodeInfo>> {
    let hostname =
        req.hostname.as_deref().map(|h| crate::validate::host("hostname", h.trim_end_matches('.'))).transpose()?;
    if let Some(name) = &hostname {
        state.store.set_node_hostname(node.id, name).await?;
    }
    tracing::info!(node = %node.name, hostname = ?hostname, version = ?req.version, "worker registered");
    Ok(Json(NodeInfo { id: node.id, name: node.name }))
}

/// The full policy snapshot.
#[utoipa::path(get, path = "/worker/policy", tag = "worker",
    security(("node_token" = [])),
    responses((status = 200, body = PolicySnapshot), (status = 401, body = ErrorBody)))]
pub async fn policy(State(state): State<AppState>, _node: WorkerNode) -> ApiResult<Json<PolicySnapshot>> {
    Ok(Json(snapshot(&state).await?))
}

/// The snapshot with the channel limits of this API.
async fn snapshot(state: &AppState) -> ApiResult<PolicySnapshot> {
    let mut snapshot = state.store.policy_snapshot(state.config.reverse_whitelist_days).await?;
    snapshot.limits = Some(state.config.channel_limits());
    Ok(snapshot)
}

/// Long-poll: answers a new snapshot as soon as the version passes `since`, or 204 when
/// nothing changed within `wait` seconds.
#[utoipa::path(get, path = "/worker/policy/changes", tag = "worker", params(ChangesParams),
    security(("node_token" = [])),
    responses((status = 200, body = PolicySnapshot), (status = 204), (status = 401, body = ErrorBody)))]
pub async fn policy_changes(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiQuery(p): ApiQuery<ChangesParams>,
) -> ApiResult<Response> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(p.wait.unwrap_or(25).min(60));
    loop {
        if state.store.policy_version().await? > p.since {
            return Ok(Json(snapshot(&state).await?).into_response());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A batch of message events; idempotent by event id.
#[utoipa::path(post, path = "/worker/events", tag = "worker", request_body = EventBatch,
    security(("node_token" = [])),
    responses((status = 200, body = EventAck), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    node: WorkerNode,
    ApiJson(batch): ApiJson<EventBatch>,
) -> ApiResult<Json<EventAck>> {
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::invalid("events", format!("at most {MAX_BATCH} events per batch")));
    }
    if let Some(i) = batch.events.iter().position(|e| e.tracking_id.is_empty() || e.tracking_id.len() > 200) {
        return Err(ApiError::invalid(
            &format!("events[{i}].tracking_id"),
            "tracking_id must have 1 to 200 characters",
        ));
    }
    // Workers bound sender-controlled text when they build events; an older or faulty one
    // must not be able to grow a tracked row without limit either.
    let events: Vec<MessageEvent> = batch.events.into_iter().map(bound_event).collect();
    let (accepted, duplicates) = state.store.ingest_events(node.id, &events).await?;
    Ok(Json(EventAck { accepted, duplicates }))
}

fn bound_event(mut e: MessageEvent) -> MessageEvent {
    e.detail = e.detail.bounded();
    e
}

/// A node reports its own counters per IP/network (absolute values: idempotent).
#[utoipa::path(post, path = "/worker/reputation", tag = "worker", request_body = ReputationPush,
    security(("node_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn push_reputation(
    State(state): State<AppState>,
    node: WorkerNode,
    ApiJson(push): ApiJson<ReputationPush>,
) -> ApiResult<StatusCode> {
    if push.entries.len() > MAX_BATCH {
        return Err(ApiError::invalid("entries", format!("at most {MAX_BATCH} entries per push")));
    }
    if let Some(i) = push
        .entries
        .iter()
        .position(|e| e.ip.parse::<ipnet::IpNet>().is_err() && e.ip.parse::<std::net::IpAddr>().is_err())
    {
        return Err(ApiError::invalid(&format!("entries[{i}].ip"), "not an IP address or network"));
    }
    state.store.push_reputation(node.id, &push.entries).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reputation changed since a cursor, summed over every node.
#[utoipa::path(get, path = "/worker/reputation", tag = "worker", params(ReputationParams),
    security(("node_token" = [])),
    responses((status = 200, body = ReputationChanges), (status = 401, body = ErrorBody)))]
pub async fn pull_reputation(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiQuery(p): ApiQuery<ReputationParams>,
) -> ApiResult<Json<ReputationChanges>> {
    let (cursor, entries) = state.store.reputation_changes(p.since.unwrap_or(0)).await?;
    Ok(Json(ReputationChanges { cursor, entries }))
}

/// A node reports its own outbound sending counts (absolute, per sender and organisation in
/// its current windows) and gets the other nodes' sums of the keys changed since `since`,
/// so that a sending limit holds for the traffic of every node together.
#[utoipa::path(post, path = "/worker/outbound-counts", tag = "worker", request_body = OutboundCountExchange,
    security(("node_token" = [])),
    responses((status = 200, body = OutboundCountChanges), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn exchange_outbound_counts(
    State(state): State<AppState>,
    node: WorkerNode,
    ApiJson(exchange): ApiJson<OutboundCountExchange>,
) -> ApiResult<Json<OutboundCountChanges>> {
    let most = crate::store::OUTBOUND_COUNTS_PUSH_MAX;
    if exchange.counts.len() > most {
        return Err(ApiError::invalid("counts", format!("at most {most} counts per push")));
    }
    if exchange.since < 0 {
        return Err(ApiError::invalid("since", "a cursor is never negative"));
    }
    for (i, c) in exchange.counts.iter().enumerate() {
        // The key is an organisation id, then the sender's address (bounded as SMTP bounds paths).
        let org = c.key.split_once('/').map_or(c.key.as_str(), |(org, _)| org);
        if Uuid::parse_str(org).is_err() || c.key.len() > 36 + 1 + 256 {
            return Err(ApiError::invalid(&format!("counts[{i}].key"), "not <org id> or <org id>/<address>"));
        }
        if [c.hour, c.hour_messages, c.day, c.day_messages, c.day_recipients].iter().any(|n| *n < 0) {
            return Err(ApiError::invalid(&format!("counts[{i}]"), "counts and windows are never negative"));
        }
    }
    if !exchange.counts.is_empty() {
        state.store.push_outbound_counts(node.id, &exchange.counts).await?;
    }
    let (cursor, counts, more) = state.store.outbound_count_changes(node.id, exchange.since).await?;
    Ok(Json(OutboundCountChanges { cursor, counts, more }))
}

/// A node reports (user, external recipient) pairs from outbound mail (reverse whitelist).
#[utoipa::path(post, path = "/worker/correspondents", tag = "worker", request_body = CorrespondentBatch,
    security(("node_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn correspondents(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiJson(batch): ApiJson<CorrespondentBatch>,
) -> ApiResult<StatusCode> {
    if batch.correspondents.len() > MAX_BATCH {
        return Err(ApiError::invalid("correspondents", format!("at most {MAX_BATCH} per batch")));
    }
    for (i, c) in batch.correspondents.iter().enumerate() {
        crate::validate::email(&format!("correspondents[{i}].address"), &c.address)?;
    }
    state.store.record_correspondents(&batch.correspondents).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Jobs per lease call, and the raw bytes one batch carries at most (at least one job).
const JOBS_PER_LEASE: i64 = 20;
const MAX_JOB_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// How long a worker has to report on a leased job before another may take it.
const JOB_LEASE_SECS: i64 = 300;

/// Feed entries per answer, and the most message bytes one answer carries.
const TRAINING_PER_BATCH: i64 = 50;
const MAX_TRAINING_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// The training feed after `after`: messages users released or reported, for the worker to
/// train each organisation's own model with. Entries whose message is gone are skipped.
#[utoipa::path(get, path = "/worker/training", tag = "worker", params(moat_openapi::TrainingQuery),
    security(("node_token" = [])),
    responses((status = 200, body = moat_openapi::TrainingBatch), (status = 401, body = ErrorBody)))]
pub async fn training(
    State(state): State<AppState>,
    _node: WorkerNode,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<moat_openapi::TrainingQuery>,
) -> ApiResult<Json<moat_openapi::TrainingBatch>> {
    use base64::Engine;
    let after = q.after.unwrap_or(0).max(0);
    let mut batch = moat_openapi::TrainingBatch { items: Vec::new(), next: after };
    let mut bytes = 0usize;
    for entry in state.store.feedback_after(after, TRAINING_PER_BATCH).await? {
        if bytes > MAX_TRAINING_BATCH_BYTES {
            break;
        }
        batch.next = entry.seq;
        let Ok(raw) = state.blobs.get(&entry.blob_key).await else { continue };
        bytes += raw.len();
        batch.items.push(moat_openapi::TrainingItem {
            seq: entry.seq,
            org_id: entry.org_id,
            spam: entry.spam,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
        });
    }
    Ok(Json(batch))
}

/// Leases due jobs to the calling worker (releases: the message and where it goes).
#[utoipa::path(get, path = "/worker/jobs", tag = "worker",
    security(("node_token" = [])),
    responses((status = 200, body = WorkerJobBatch), (status = 401, body = ErrorBody)))]
pub async fn lease_jobs(State(state): State<AppState>, _node: WorkerNode) -> ApiResult<Json<WorkerJobBatch>> {
    use base64::Engine;
    let until = crate::store::now() + chrono::Duration::seconds(JOB_LEASE_SECS);
    let leased = state.store.lease_jobs(JOBS_PER_LEASE, until).await?;
    let mut jobs = Vec::new();
    let mut bytes = 0usize;
    for job in leased {
        if bytes > MAX_JOB_BATCH_BYTES {
            // Leased but not sent: it goes back when its lease runs out.
            continue;
        }
        // A test delivery carries no message of the API's (the worker writes its own).
        let raw = match state.blobs.get(&job.blob_key).await {
            _ if job.kind == "test_delivery" => Vec::new(),
            Ok(raw) => raw,
            Err(err) => {
                tracing::warn!(%err, job = %job.id, "the released message is gone (deleted?)");
                state.store.finish_job(job.id, false, Some("the message is no longer in quarantine"), None).await?;
                continue;
            }
        };
        bytes += raw.len();
        jobs.push(WorkerJob {
            id: job.id,
            kind: match job.kind.as_str() {
                "system_mail" => WorkerJobKind::SystemMail,
                "archive_send" => WorkerJobKind::ArchiveSend,
                "test_delivery" => WorkerJobKind::TestDelivery,
                _ => WorkerJobKind::Release,
            },
            recipients: job.recipient.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect(),
            org_id: job.org_id,
            recipient: job.recipient.split(',').next().unwrap_or_default().to_string(),
            sender: job.sender,
            released_by: job.released_by,
            direction: job.direction,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
        });
    }
    Ok(Json(WorkerJobBatch { jobs }))
}

/// A worker reports on a job it leased.
#[utoipa::path(post, path = "/worker/jobs/{id}/done", tag = "worker", params(("id" = Uuid, Path)), request_body = JobDone,
    security(("node_token" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn job_done(
    State(state): State<AppState>,
    _node: WorkerNode,
    crate::extract::ApiPath(id): crate::extract::ApiPath<Uuid>,
    ApiJson(done): ApiJson<JobDone>,
) -> ApiResult<StatusCode> {
    let error = done.error.as_deref().map(|e| moat_openapi::bounded(e, 1000));
    let report = done.report.as_ref().map(bounded_report).transpose()?;
    if !state.store.finish_job(id, done.ok, error.as_deref(), report.as_deref()).await? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A test delivery's report as stored: at most 20 stages of bounded text.
fn bounded_report(report: &moat_openapi::TestDeliveryReport) -> ApiResult<String> {
    if report.stages.len() > 20 {
        return Err(ApiError::invalid("report.stages", "at most 20 stages"));
    }
    let mut report = report.clone();
    report.node = moat_openapi::bounded(&report.node, 255);
    for stage in &mut report.stages {
        stage.answer = moat_openapi::bounded(&stage.answer, 2000);
        stage.details.truncate(50);
        for d in &mut stage.details {
            *d = moat_openapi::bounded(d, 500);
        }
    }
    serde_json::to_string(&report).map_err(|e| ApiError::Internal(e.into()))
}
