//! The audit log's recording side. Every state-changing API call (any method but GET and
//! HEAD, outside the worker channel) is recorded after it answers, with the caller its
//! credentials name, the client address, `METHOD /path`, the status and the tenant it
//! concerns; logins and admins' reads of someone else's mail are recorded by their handlers
//! ([`note`]), which know more than the path.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use moat_openapi::{ActorKind, AuditEntry};
use uuid::Uuid;

use crate::auth::Caller;
use crate::state::AppState;
use crate::store::Scope;

/// Records the call after it is answered (see the module comment for which calls).
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let read_only = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let anonymous_by_design = path == "/api/v1/auth/login"; // recorded by the handler, with the email
    if read_only || !path.starts_with("/api/v1/") || path.starts_with("/api/v1/worker/") || anonymous_by_design {
        return next.run(req).await;
    }
    let action = format!("{} {path}", req.method());
    let ip = client_ip(&req);
    let (mut parts, body) = req.into_parts();
    // Who, whatever the answer (a read-only key's refused write is recorded with the key).
    let caller = Caller::identify(&parts, &state).await.ok();
    if let Some(caller) = &caller {
        // The handler's own `Caller` extractor takes it from here instead of looking it up again.
        parts.extensions.insert(caller.clone());
    }
    let response = next.run(Request::from_parts(parts, body)).await;
    let (org_id, msp_id) = tenant_of(&path, caller.as_ref());
    note(&state, caller.as_ref(), None, ip, action, response.status().as_u16(), org_id, msp_id).await;
    response
}

fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The tenant a call concerns: the organisation or MSP its path names, else the caller's.
fn tenant_of(path: &str, caller: Option<&Caller>) -> (Option<Uuid>, Option<Uuid>) {
    let named = |prefix: &str| {
        path.split_once(prefix).and_then(|(_, rest)| rest.split('/').next()).and_then(|id| id.parse::<Uuid>().ok())
    };
    if let Some(org) = named("/orgs/") {
        return (Some(org), None);
    }
    if let Some(msp) = named("/msps/") {
        return (None, Some(msp));
    }
    match caller.map(|c| c.scope) {
        Some(Scope::Org(org)) | Some(Scope::User { org_id: org, .. }) => (Some(org), None),
        Some(Scope::Msp(msp)) => (None, Some(msp)),
        _ => (None, None),
    }
}

/// Appends one entry; `actor` overrides the caller's name (a login names its email). A
/// failed write is logged: the action itself has happened.
#[allow(clippy::too_many_arguments)]
pub async fn note(
    state: &AppState,
    caller: Option<&Caller>,
    actor: Option<&str>,
    ip: String,
    action: String,
    status: u16,
    org_id: Option<Uuid>,
    msp_id: Option<Uuid>,
) {
    let (actor_kind, actor_id, name) = match caller {
        Some(Caller { user: Some(user), .. }) => (ActorKind::User, Some(user.id), user.email.clone()),
        Some(Caller { api_key_id: Some(key), .. }) => (ActorKind::ApiKey, Some(*key), format!("API key {key}")),
        _ => (ActorKind::Anonymous, None, "anonymous".to_string()),
    };
    let entry = AuditEntry {
        id: Uuid::new_v4(),
        at: crate::store::now(),
        actor_kind,
        actor_id,
        actor: moat_openapi::bounded(actor.unwrap_or(&name), 254),
        ip,
        action: moat_openapi::bounded(&action, 500),
        status,
        org_id,
        msp_id,
    };
    if let Err(err) = state.store.append_audit(&entry).await {
        tracing::error!(%err, action = %entry.action, "cannot write the audit log");
    }
}
