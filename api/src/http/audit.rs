//! The audit log as callers read it: within their reach (a plain user its own actions),
//! searchable, paged, and as CSV for admins.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use moat_openapi::{AuditEntry, AuditList, AuditQuery, ErrorBody, Role, wire_name};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::store::{MAX_AUDIT_EXPORT, Paging};

/// Audit entries within the caller's reach, newest first.
#[utoipa::path(get, path = "/audit", tag = "meta", params(AuditQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<AuditEntry>), (status = 401, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let paging = Paging::new(q.page, q.per_page);
    let (items, total) = state.store.list_audit(caller.scope, &q, paging).await?;
    Ok(Json(AuditList::new(items, total, paging.page, paging.per_page)))
}

/// The same entries as CSV (organisation admins and up; at most 100,000 rows, newest first).
#[utoipa::path(get, path = "/audit/export.csv", tag = "meta", params(AuditQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/csv"), (status = 403, body = ErrorBody)))]
pub async fn export_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    caller.require(Role::OrgAdmin)?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = ["at", "actor_kind", "actor", "ip", "action", "status", "org_id", "msp_id"];
    out.write_record(header).map_err(|e| ApiError::Internal(e.into()))?;
    let per_page = Paging::MAX_PER_PAGE;
    for page in 1..=(MAX_AUDIT_EXPORT as u32).div_ceil(per_page) {
        let (items, _) = state.store.list_audit(caller.scope, &q, Paging { page, per_page }).await?;
        for e in &items {
            let row = [
                e.at.to_rfc3339(),
                wire_name(&e.actor_kind),
                e.actor.clone(),
                e.ip.clone(),
                e.action.clone(),
                e.status.to_string(),
                e.org_id.map(|o| o.to_string()).unwrap_or_default(),
                e.msp_id.map(|m| m.to_string()).unwrap_or_default(),
            ];
            out.write_record(&row).map_err(|e| ApiError::Internal(e.into()))?;
        }
        if items.len() < per_page as usize {
            break;
        }
    }
    let body = out.into_inner().map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
    ];
    Ok((headers, body).into_response())
}
