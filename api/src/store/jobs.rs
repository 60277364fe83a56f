//! Worker jobs: releases from quarantine (later: archive sends), leased by one node at a
//! time and finished once. A message is released at most once (a unique index), however
//! often release is asked for or however many nodes poll.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::StoreResult;
use super::search::bind_args;
use super::{Scope, Store, now, with_pool};

/// Attempts before a job that keeps failing is given up.
pub const MAX_JOB_ATTEMPTS: i64 = 5;

/// A leased job with what the worker needs to carry it out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeasedJob {
    pub id: Uuid,
    /// `release` or `system_mail`.
    pub kind: String,
    pub org_id: Option<Uuid>,
    pub recipient: String,
    pub sender: String,
    pub blob_key: String,
    pub released_by: String,
    #[sqlx(try_from = "String")]
    pub direction: moat_openapi::Direction,
}

impl Store {
    /// Creates a release job for each message of `ids` within `scope` not released before,
    /// and marks them reviewed; answers how many jobs are new.
    pub async fn create_release_jobs(&self, scope: Scope, ids: &[String], released_by: &str) -> StoreResult<i64> {
        let c = super::quarantine::reach_of_ids(scope, ids);
        let select = format!(
            "SELECT q.id, q.org_id, q.recipient, q.sender, q.blob_key, q.direction FROM quarantine q WHERE {}",
            c.sql()
        );
        let created_at = now();
        let created = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<(String, Uuid, String, String, String, String)> =
                bind_args!(sqlx::query_as(&select), c.args).fetch_all(&mut *tx).await?;
            let mut created = 0i64;
            for (qid, org, recipient, sender, blob, direction) in rows {
                created += sqlx::query(
                    "INSERT INTO worker_jobs (id, kind, quarantine_id, org_id, recipient, sender, blob_key, released_by, \
                     status, created_at, direction) VALUES ($1, 'release', $2, $3, $4, $5, $6, $7, 'pending', $8, $9) ON CONFLICT DO NOTHING")
                    .bind(Uuid::new_v4()).bind(&qid).bind(org).bind(&recipient).bind(&sender).bind(&blob)
                    .bind(released_by).bind(created_at).bind(direction).execute(&mut *tx).await?.rows_affected() as i64;
                sqlx::query("UPDATE quarantine SET reviewed = $1 WHERE id = $2").bind(true).bind(&qid).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(created)
        })?;
        Ok(created)
    }

    /// Leases up to `limit` due jobs (new ones, and ones whose lease ran out) until `until`.
    pub async fn lease_jobs(&self, limit: i64, until: DateTime<Utc>) -> StoreResult<Vec<LeasedJob>> {
        let at = now();
        let leased = with_pool!(self, pool => {
            let due: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM worker_jobs WHERE (status = 'pending' OR (status = 'leased' AND leased_until < $1)) \
                 AND attempts < $2 ORDER BY created_at LIMIT $3")
                .bind(at).bind(MAX_JOB_ATTEMPTS).bind(limit).fetch_all(pool).await?;
            let mut leased = Vec::new();
            for id in due {
                // Another node may have taken it since: the guard makes the claim exclusive.
                let job: Option<LeasedJob> = sqlx::query_as(
                    "UPDATE worker_jobs SET status = 'leased', leased_until = $1, attempts = attempts + 1 \
                     WHERE id = $2 AND (status = 'pending' OR (status = 'leased' AND leased_until < $3)) \
                     RETURNING id, kind, org_id, recipient, sender, blob_key, released_by, direction")
                    .bind(until).bind(id).bind(at).fetch_optional(pool).await?;
                leased.extend(job);
            }
            Ok::<_, sqlx::Error>(leased)
        })?;
        Ok(leased)
    }

    /// Records a worker's report on a leased job: done, or failed (tried again until
    /// [`MAX_JOB_ATTEMPTS`]). A system-mail job's outcome becomes its mail's state. Answers
    /// false when the job was not leased.
    pub async fn finish_job(&self, id: Uuid, ok: bool, error: Option<&str>, report: Option<&str>) -> StoreResult<bool> {
        let status = if ok { "done" } else { "pending" };
        let at = now();
        let finished: Option<(String, String, String)> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let finished: Option<(String, String, String)> = sqlx::query_as(
                "UPDATE worker_jobs SET status = CASE WHEN $1 = 'pending' AND attempts >= $2 THEN 'failed' ELSE $1 END, \
                 done_at = $3, last_error = $4, leased_until = NULL WHERE id = $5 AND status = 'leased' \
                 RETURNING kind, quarantine_id, status")
                .bind(status).bind(MAX_JOB_ATTEMPTS).bind(at).bind(error).bind(id)
                .fetch_optional(&mut *tx).await?;
            if let Some((kind, mail, job_status)) = &finished
                && kind == "system_mail"
                && job_status != "pending"
            {
                let (mail_status, sent_at) = if job_status == "done" { ("sent", Some(at)) } else { ("failed", None) };
                sqlx::query("UPDATE system_mail SET status = $1, sent_at = $2, last_error = $3, attempts = attempts + 1 \
                     WHERE id = $4")
                    .bind(mail_status).bind(sent_at).bind(error).bind(Uuid::parse_str(mail).unwrap_or_default())
                    .execute(&mut *tx).await?;
            }
            // A test delivery ends with the worker's report, whatever its stages said.
            if let Some((kind, test, _)) = &finished
                && kind == "test_delivery"
            {
                let report = report.map(str::to_string).unwrap_or_else(|| {
                    serde_json::json!({"node": "", "stages": [{"stage": "connect", "ok": false, "micros": 0,
                        "answer": error.unwrap_or("the worker could not run the test")}]}).to_string()
                });
                sqlx::query("UPDATE worker_jobs SET status = 'done' WHERE id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("UPDATE test_deliveries SET finished_at = $1, report = $2 WHERE id = $3 AND finished_at IS NULL")
                    .bind(at).bind(report).bind(Uuid::parse_str(test).unwrap_or_default())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(finished)
        })?;
        Ok(finished.is_some())
    }

    /// Hands a system mail to the workers: a `system_mail` job with its built message (in the
    /// blob store under `blob_key`), and the mail marked `with_worker`.
    pub async fn create_system_mail_job(
        &self,
        mail: &super::SystemMail,
        sender: &str,
        blob_key: &str,
    ) -> StoreResult<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO worker_jobs (id, kind, quarantine_id, org_id, recipient, sender, blob_key, released_by, \
                 status, created_at) VALUES ($1, 'system_mail', $2, NULL, $3, $4, $5, '', 'pending', $6) ON CONFLICT DO NOTHING")
                .bind(Uuid::new_v4()).bind(mail.id.to_string()).bind(&mail.recipient).bind(sender).bind(blob_key).bind(at)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE system_mail SET status = 'with_worker' WHERE id = $1").bind(mail.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }
}
