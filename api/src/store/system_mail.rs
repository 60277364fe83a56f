//! The system-mail outbox as the sending job sees it (due mail, outcomes), as admins see it
//! (state and list), and the named leases that keep each scheduled job on one replica.

use chrono::{DateTime, Utc};
use moat_openapi::{SystemMailItem, SystemMailStatus, from_wire_name, wire_name};
use uuid::Uuid;

use super::error::StoreResult;
use super::{Paging, Store, SystemMail, now, with_pool};

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: Uuid,
    recipient: String,
    subject: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
}

impl From<ItemRow> for SystemMailItem {
    fn from(r: ItemRow) -> SystemMailItem {
        let status = from_wire_name(&r.status).unwrap_or_default();
        SystemMailItem {
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            next_attempt_at: r.next_attempt_at.filter(|_| status == SystemMailStatus::Pending),
        }
    }
}

impl Store {
    /// Pending mail whose attempt is due, oldest first, at most `limit`.
    pub async fn due_system_mail(&self, limit: i64) -> StoreResult<Vec<(SystemMail, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Due {
            #[sqlx(flatten)]
            mail: SystemMail,
            attempts: i64,
        }
        let rows: Vec<Due> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, recipient, subject, body, html, created_at, CAST(attempts AS BIGINT) AS attempts \
             FROM system_mail WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) \
             ORDER BY created_at LIMIT $2")
            .bind(now()).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (r.mail, r.attempts)).collect())
    }

    /// Records a sent mail.
    pub async fn system_mail_sent(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE system_mail SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2")
            .bind(now()).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    pub async fn system_mail_failed(&self, id: Uuid, error: &str, retry_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let status = if retry_at.is_some() { SystemMailStatus::Pending } else { SystemMailStatus::Failed };
        with_pool!(self, pool => sqlx::query(
            "UPDATE system_mail SET status = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $4")
            .bind(wire_name(&status)).bind(error).bind(retry_at).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// How many mails wait and how many failed.
    pub async fn system_mail_counts(&self) -> StoreResult<(i64, i64)> {
        let (pending, failed): (i64, i64) = with_pool!(self, pool => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) FROM system_mail")
            .fetch_one(pool).await)?;
        Ok((pending, failed))
    }

    /// System mail, newest first, optionally of one status.
    pub async fn list_system_mail(
        &self,
        status: Option<SystemMailStatus>,
        paging: Paging,
    ) -> StoreResult<(Vec<SystemMailItem>, i64)> {
        let status = status.map(|s| wire_name(&s));
        let (rows, total): (Vec<ItemRow>, i64) = with_pool!(self, pool => {
            let rows = sqlx::query_as(
                "SELECT id, recipient, subject, status, CAST(attempts AS BIGINT) AS attempts, last_error, created_at, \
                 sent_at, next_attempt_at FROM system_mail WHERE ($1 IS NULL OR status = $1) \
                 ORDER BY created_at DESC LIMIT $2 OFFSET $3")
                .bind(&status).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total = sqlx::query_scalar("SELECT COUNT(*) FROM system_mail WHERE ($1 IS NULL OR status = $1)")
                .bind(&status).fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((rows, total))
        })?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// Takes (or renews) the lease `name` for `holder` until `until`; false while another
    /// holder's lease is still running.
    pub async fn take_lease(&self, name: &str, holder: &str, until: DateTime<Utc>) -> StoreResult<bool> {
        let taken = with_pool!(self, pool => sqlx::query(
            "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at < $4 OR job_leases.holder = excluded.holder")
            .bind(name).bind(holder).bind(until).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(taken == 1)
    }
}
