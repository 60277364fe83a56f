//! Alerts: workers raise them (`POST /worker/alerts`), admins list and clear them. A new
//! alert is mailed to the organisation's admins; clearing a blocking one lets its sender send
//! again on every worker (the next policy snapshot no longer lists it).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{Alert, AlertBatch, AlertList, AlertQuery, ErrorBody, RaisedAlert, Role};
use uuid::Uuid;

use crate::auth::Caller;
use crate::auth::node::WorkerNode;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{Paging, SystemMail, now};

/// Alerts one call may raise.
const MAX_ALERTS: usize = 100;

/// A node raises alerts (one open alert per organisation, kind and subject: repeats are
/// ignored).
#[utoipa::path(post, path = "/worker/alerts", tag = "worker", request_body = AlertBatch,
    security(("node_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn raise(
    State(state): State<AppState>,
    _node: WorkerNode,
    ApiJson(batch): ApiJson<AlertBatch>,
) -> ApiResult<StatusCode> {
    if batch.alerts.len() > MAX_ALERTS {
        return Err(ApiError::invalid("alerts", format!("at most {MAX_ALERTS} per call")));
    }
    for (i, a) in batch.alerts.iter().enumerate() {
        if a.subject.trim().is_empty() || a.subject.chars().count() > moat_openapi::MAX_ADDRESS_CHARS {
            return Err(ApiError::invalid(&format!("alerts[{i}].subject"), "1 to 320 characters"));
        }
        if a.detail.chars().count() > 1000 {
            return Err(ApiError::invalid(&format!("alerts[{i}].detail"), "at most 1,000 characters"));
        }
    }
    for alert in &batch.alerts {
        // An organisation deleted meanwhile has nobody to tell.
        if state.store.get_org(crate::store::Scope::Platform, alert.org_id).await?.is_none() {
            continue;
        }
        let url = state.config.public_url();
        if let Some(id) = state.store.raise_alert(alert, |admin| alert_mail(&url, admin, alert)).await? {
            tracing::warn!(%id, org = %alert.org_id, subject = %alert.subject, "alert raised");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The mail an organisation admin gets about a new alert.
fn alert_mail(url: &str, admin: &str, alert: &RaisedAlert) -> SystemMail {
    let then = match (alert.kind, alert.blocks) {
        (_, true) => "It may not send through Moat until an admin clears the alert.",
        (moat_openapi::AlertKind::VolumeJump, false) => {
            "Its mail still goes out; check that the mailbox is not compromised."
        }
        (_, false) => "Its mail is deferred (or only reported) while it is over the limit, as your policy says.",
    };
    let body = format!(
        "Hello,\n\nMoat raised an alert for your organisation:\n\n  {}\n  {}\n\n{then}\nA sudden jump in \
         volume can mean a compromised mailbox. Review it under Alerts:\n\n{url}/alerts\n",
        alert.subject, alert.detail
    );
    SystemMail {
        id: Uuid::new_v4(),
        recipient: admin.to_string(),
        subject: match alert.kind {
            moat_openapi::AlertKind::VolumeJump => format!("Moat alert: unusual sending volume from {}", alert.subject),
            _ => format!("Moat alert: {} over its sending limit", alert.subject),
        },
        body,
        html: String::new(),
        created_at: now(),
    }
}

/// Alerts within reach, newest first (organisation admins and up).
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = AlertList), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<AlertList>> {
    caller.require(Role::OrgAdmin)?;
    let paging = Paging::new(q.page, q.per_page);
    let (items, total) = state.store.list_alerts(caller.scope, q.org_id, q.open, paging).await?;
    Ok(Json(AlertList::new(items, total, paging.page, paging.per_page)))
}

/// Clear an alert: a sender it blocked may send again.
#[utoipa::path(post, path = "/alerts/{id}/clear", tag = "alerts", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Alert), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Alert>> {
    caller.require(Role::OrgAdmin)?;
    state.store.get_alert(caller.scope, id).await?.ok_or_else(ApiError::not_found)?;
    let by = caller.name();
    if !state.store.clear_alert(id, &by).await? {
        return Err(ApiError::conflict("id", "the alert was cleared already"));
    }
    Ok(Json(state.store.get_alert(caller.scope, id).await?.ok_or_else(ApiError::not_found)?))
}
