//! Alerts: raised by workers (one open alert per organisation, kind and subject), listed
//! within the caller's reach, cleared by admins; open blocking alerts are the senders every
//! worker refuses.

use chrono::{DateTime, Utc};
use moat_openapi::{Alert, AlertKind, BlockedSender, RaisedAlert, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::search::{Arg, Conditions, bind_args, page_of};
use super::{Paging, Scope, Store, SystemMail, now, with_pool};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    org_id: Uuid,
    kind: String,
    subject: String,
    detail: String,
    blocks: bool,
    raised_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
    cleared_by: Option<String>,
}

impl Row {
    fn into_alert(self) -> StoreResult<Alert> {
        Ok(Alert {
            id: self.id,
            org_id: self.org_id,
            kind: from_wire_name(&self.kind)
                .ok_or_else(|| StoreError::internal(anyhow::anyhow!("alert kind {}", self.kind)))?,
            subject: self.subject,
            detail: self.detail,
            blocks: self.blocks,
            raised_at: self.raised_at,
            cleared_at: self.cleared_at,
            cleared_by: self.cleared_by,
        })
    }
}

const COLUMNS: &str = "a.id, a.org_id, a.kind, a.subject, a.detail, a.blocks, a.raised_at, a.cleared_at, a.cleared_by";

/// The alerts `scope` may see (plain users none: handlers refuse them before).
fn reach(scope: Scope) -> Conditions {
    let mut c = Conditions::default();
    c.org_scope("a", scope);
    c
}

impl Store {
    /// Records an alert unless the same one is open already; a new one is mailed to the
    /// organisation's admins (`mail` writes the mail for one address). Answers the new id.
    pub async fn raise_alert(
        &self,
        alert: &RaisedAlert,
        mail: impl Fn(&str) -> SystemMail,
    ) -> StoreResult<Option<Uuid>> {
        let id = Uuid::new_v4();
        let admins: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT email FROM users WHERE org_id = $1 AND role = $2 AND active AND NOT disabled ORDER BY email LIMIT 50")
            .bind(alert.org_id).bind(wire_name(&moat_openapi::Role::OrgAdmin)).fetch_all(pool).await)?;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO alerts (id, org_id, kind, subject, detail, blocks, raised_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (org_id, kind, subject) WHERE cleared_at IS NULL DO NOTHING")
                .bind(id).bind(alert.org_id).bind(wire_name(&alert.kind)).bind(&alert.subject)
                .bind(&alert.detail).bind(alert.blocks).bind(now())
                .execute(&mut *tx).await?.rows_affected();
            if inserted == 0 {
                return Ok(None);
            }
            for admin in &admins {
                let m = mail(admin);
                super::users::insert_mail!(tx, m);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(Some(id))
        })
    }

    pub async fn list_alerts(
        &self,
        scope: Scope,
        org_id: Option<Uuid>,
        open: Option<bool>,
        paging: Paging,
    ) -> StoreResult<(Vec<Alert>, i64)> {
        let mut c = reach(scope);
        if let Some(org) = org_id {
            c.equals("a.org_id", Arg::Uuid(org));
        }
        match open {
            Some(true) => c.add("a.cleared_at IS NULL".to_string()),
            Some(false) => c.add("a.cleared_at IS NOT NULL".to_string()),
            None => {}
        }
        let (rows, total) = page_of!(self, Row, COLUMNS, "alerts a", c, "a.raised_at DESC, a.id", paging)?;
        Ok((rows.into_iter().map(Row::into_alert).collect::<StoreResult<_>>()?, total))
    }

    pub async fn get_alert(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Alert>> {
        let mut c = reach(scope);
        c.equals("a.id", Arg::Uuid(id));
        let sql = format!("SELECT {COLUMNS} FROM alerts a WHERE {}", c.sql());
        let row: Option<Row> =
            with_pool!(self, pool => bind_args!(sqlx::query_as::<_, Row>(&sql), c.args).fetch_optional(pool).await)?;
        row.map(Row::into_alert).transpose()
    }

    /// Clears an open alert (a blocked sender may send again); false when it was not open.
    pub async fn clear_alert(&self, id: Uuid, by: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE alerts SET cleared_at = $1, cleared_by = $2 WHERE id = $3 AND cleared_at IS NULL")
            .bind(now()).bind(by).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Senders refused until an admin clears their alert.
    pub async fn blocked_senders(&self) -> StoreResult<Vec<BlockedSender>> {
        let rows: Vec<(Uuid, String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT org_id, kind, subject FROM alerts WHERE blocks AND cleared_at IS NULL ORDER BY raised_at LIMIT 100000")
            .fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(org_id, kind, subject)| BlockedSender {
                org_id,
                address: if from_wire_name(&kind) == Some(AlertKind::OrgOutboundLimit) {
                    String::new()
                } else {
                    subject.to_lowercase()
                },
            })
            .collect())
    }
}
