//! The audit log: appended to, never changed; searched within the caller's reach.

use chrono::{DateTime, Utc};
use moat_openapi::{ActorKind, AuditEntry, AuditQuery, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::StoreResult;
use super::search::{Arg, Conditions, page_of};
use super::{Paging, Scope, Store, with_pool};

/// Most entries one CSV export holds.
pub const MAX_AUDIT_EXPORT: i64 = 100_000;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    at: DateTime<Utc>,
    actor_kind: String,
    actor_id: Option<Uuid>,
    actor: String,
    ip: String,
    action: String,
    status: i64,
    org_id: Option<Uuid>,
    msp_id: Option<Uuid>,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor_kind: from_wire_name(&r.actor_kind).unwrap_or(ActorKind::Anonymous),
            actor_id: r.actor_id,
            actor: r.actor,
            ip: r.ip,
            action: r.action,
            status: u16::try_from(r.status).unwrap_or(0),
            org_id: r.org_id,
            msp_id: r.msp_id,
        }
    }
}

const COLUMNS: &str = "a.id, a.at, a.actor_kind, a.actor_id, a.actor, a.ip, a.action, CAST(a.status AS BIGINT) AS status, a.org_id, a.msp_id";

/// The entries `scope` may read: an MSP's own and its organisations', an organisation's, a
/// plain user's own actions.
fn reach(scope: Scope) -> Conditions {
    let mut c = Conditions::default();
    match scope {
        Scope::Platform => {}
        Scope::Msp(msp) => {
            let p = c.arg(Arg::Uuid(msp));
            c.add(format!("(a.msp_id = {p} OR a.org_id IN (SELECT id FROM orgs WHERE msp_id = {p}))"));
        }
        Scope::Org(org) => c.equals("a.org_id", Arg::Uuid(org)),
        Scope::User { user_id, .. } => c.equals("a.actor_id", Arg::Uuid(user_id)),
    }
    c
}

impl Store {
    /// Appends one entry.
    pub async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor, ip, action, status, org_id, msp_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(entry.id).bind(entry.at).bind(wire_name(&entry.actor_kind)).bind(entry.actor_id).bind(&entry.actor)
            .bind(&entry.ip).bind(&entry.action).bind(i64::from(entry.status)).bind(entry.org_id).bind(entry.msp_id)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Entries within `scope`, newest first, and their total.
    pub async fn list_audit(
        &self,
        scope: Scope,
        q: &AuditQuery,
        paging: Paging,
    ) -> StoreResult<(Vec<AuditEntry>, i64)> {
        let mut c = reach(scope);
        if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let p = c.arg(Arg::Text(format!("%{}%", text.to_lowercase().replace(['%', '_'], ""))));
            c.add(format!("(lower(a.actor) LIKE {p} OR lower(a.action) LIKE {p})"));
        }
        c.time_range("a.at", q.from, q.to);
        let (rows, total) = page_of!(self, Row, COLUMNS, "audit_log a", c, "a.at DESC, a.id", paging)?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }
}
