//! Test deliveries: the request (and the worker job that runs it) in one transaction, the
//! worker's report, and reads within the caller's reach.

use chrono::{DateTime, Utc};
use moat_openapi::{ProbeStage, TestDelivery, TestDeliveryReport, TestDeliveryStatus};
use uuid::Uuid;

use super::error::StoreResult;
use super::{Scope, Store, now, with_pool};

/// Test deliveries of one organisation that may wait for a worker at once.
pub const MAX_PENDING_TESTS: i64 = 5;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    domain_id: Uuid,
    domain: String,
    send_test: bool,
    test_recipient: Option<String>,
    requested_by: String,
    requested_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    report: Option<String>,
}

impl From<Row> for TestDelivery {
    fn from(r: Row) -> TestDelivery {
        let report: Option<TestDeliveryReport> = r.report.as_deref().and_then(|t| serde_json::from_str(t).ok());
        let status = match (&r.finished_at, &report) {
            (None, _) => TestDeliveryStatus::Pending,
            // The MX check informs (a domain being moved may point elsewhere); delivery decides.
            (Some(_), Some(rep))
                if rep.stages.iter().any(|s| s.stage == ProbeStage::Rcpt)
                    && rep.stages.iter().filter(|s| s.stage != ProbeStage::Mx).all(|s| s.ok) =>
            {
                TestDeliveryStatus::Passed
            }
            (Some(_), _) => TestDeliveryStatus::Failed,
        };
        let (node, stages) = report.map(|r| (Some(r.node), r.stages)).unwrap_or_default();
        TestDelivery {
            id: r.id,
            domain_id: r.domain_id,
            domain: r.domain,
            send_test: r.send_test,
            test_recipient: r.test_recipient,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            status,
            finished_at: r.finished_at,
            node,
            stages,
        }
    }
}

impl Store {
    /// Records a test delivery for `domain` of `org` and the job a worker runs it from;
    /// `None` when the organisation has [`MAX_PENDING_TESTS`] waiting already.
    pub async fn create_test_delivery(
        &self,
        org: Uuid,
        domain_id: Uuid,
        domain: &str,
        test_recipient: Option<&str>,
        requested_by: &str,
    ) -> StoreResult<Option<TestDelivery>> {
        let id = Uuid::new_v4();
        let at = now();
        let pending: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM test_deliveries WHERE org_id = $1 AND finished_at IS NULL")
            .bind(org).fetch_one(pool).await)?;
        if pending >= MAX_PENDING_TESTS {
            return Ok(None);
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO test_deliveries (id, org_id, domain_id, domain, send_test, test_recipient, requested_by, \
                 requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(id).bind(org).bind(domain_id).bind(domain).bind(test_recipient.is_some()).bind(test_recipient)
                .bind(requested_by).bind(at)
                .execute(&mut *tx).await?;
            // `sender` carries the test message's recipient (empty: no test message).
            sqlx::query(
                "INSERT INTO worker_jobs (id, kind, quarantine_id, org_id, recipient, sender, blob_key, released_by, \
                 status, created_at) VALUES ($1, 'test_delivery', $2, $3, $4, $5, '', $6, 'pending', $7)")
                .bind(Uuid::new_v4()).bind(id.to_string()).bind(org).bind(format!("postmaster@{domain}"))
                .bind(test_recipient.unwrap_or_default()).bind(requested_by).bind(at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        self.get_test_delivery(Scope::Platform, id).await
    }

    pub async fn get_test_delivery(&self, scope: Scope, id: Uuid) -> StoreResult<Option<TestDelivery>> {
        let mut c = super::search::Conditions::default();
        c.org_scope("t", scope);
        c.equals("t.id", super::search::Arg::Uuid(id));
        let sql = format!(
            "SELECT t.id, t.domain_id, t.domain, t.send_test, t.test_recipient, t.requested_by, t.requested_at, t.finished_at, t.report \
             FROM test_deliveries t WHERE {}",
            c.sql()
        );
        let row: Option<Row> = with_pool!(self, pool =>
            super::search::bind_args!(sqlx::query_as::<_, Row>(&sql), c.args).fetch_optional(pool).await)?;
        Ok(row.map(Into::into))
    }
}
