//! Quarantined messages: metadata and search (the raw bytes live in the blob store).

use chrono::{DateTime, Utc};
use moat_openapi::{QuarantineItem, QuarantineQuery, QuarantineUpload};
use uuid::Uuid;

use super::{Paging, Scope, Store, with_pool};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    org_id: Uuid,
    user_id: Option<Uuid>,
    recipient: String,
    sender: String,
    subject: String,
    score: f64,
    reasons: String,
    size: i64,
    received_at: DateTime<Utc>,
    reviewed: bool,
}

impl From<Row> for QuarantineItem {
    fn from(r: Row) -> QuarantineItem {
        QuarantineItem {
            id: r.id,
            subject: r.subject,
            sender: r.sender,
            recipient: r.recipient,
            score: r.score,
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            received_at: r.received_at,
            reviewed: r.reviewed,
            org_id: r.org_id,
            user_id: r.user_id,
            size: r.size,
        }
    }
}

/// Scope: `$3` limits plain users to their own quarantine and those delegated to them.
const SCOPE: &str = "($1 IS NULL OR o.msp_id = $1) AND ($2 IS NULL OR q.org_id = $2) \
     AND ($3 IS NULL OR q.user_id = $3 OR q.user_id IN (SELECT d.id FROM users d WHERE d.quarantine_delegate_id = $3))";

fn like(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("%{}%", s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))
}

impl Store {
    /// Records a quarantined copy; answers false when it was already there.
    pub async fn insert_quarantine(&self, q: &QuarantineUpload, size: i64, blob_key: &str) -> ApiResult<bool> {
        let reasons = serde_json::to_string(&q.reasons).map_err(|e| ApiError::Internal(e.into()))?;
        let n = with_pool!(self, pool => sqlx::query(
            "INSERT INTO quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, \
             received_at, reviewed, blob_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING")
            .bind(&q.id).bind(q.org_id).bind(q.user_id).bind(q.recipient.to_lowercase()).bind(&q.sender).bind(&q.subject)
            .bind(&q.message_id).bind(q.score).bind(reasons).bind(size).bind(q.received_at).bind(false).bind(blob_key)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    pub async fn list_quarantine(
        &self,
        scope: Scope,
        q: &QuarantineQuery,
        paging: Paging,
    ) -> ApiResult<(Vec<QuarantineItem>, i64)> {
        let filters = "($4 IS NULL OR LOWER(q.sender) LIKE $4 ESCAPE '\\' OR q.recipient LIKE $4 ESCAPE '\\' \
             OR LOWER(q.subject) LIKE $4 ESCAPE '\\') AND ($5 IS NULL OR q.user_id = $5) AND ($6 IS NULL OR q.org_id = $6) \
             AND ($7 IS NULL OR q.reviewed = $7) AND ($8 IS NULL OR q.received_at >= $8) AND ($9 IS NULL OR q.received_at < $9)";
        let from = format!("FROM quarantine q JOIN orgs o ON o.id = q.org_id WHERE {SCOPE} AND {filters}");
        let list = format!(
            "SELECT q.id, q.org_id, q.user_id, q.recipient, q.sender, q.subject, q.score, q.reasons, q.size, q.received_at, \
             q.reviewed {from} ORDER BY q.received_at DESC, q.id LIMIT $10 OFFSET $11"
        );
        let count = format!("SELECT COUNT(*) {from}");
        macro_rules! bind_all {
            ($query:expr) => {
                $query
                    .bind(scope.msp_filter())
                    .bind(scope.org_filter())
                    .bind(scope.user_filter())
                    .bind(like(&q.q))
                    .bind(q.user_id)
                    .bind(q.org_id)
                    .bind(q.reviewed)
                    .bind(q.from)
                    .bind(q.to)
            };
        }
        with_pool!(self, pool => {
            let rows: Vec<Row> = bind_all!(sqlx::query_as(&list)).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total: i64 = bind_all!(sqlx::query_scalar(&count)).fetch_one(pool).await?;
            Ok((rows.into_iter().map(QuarantineItem::from).collect(), total))
        })
    }
}
