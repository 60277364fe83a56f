//! Quarantined messages: metadata and search (the raw bytes live in the blob store).

use chrono::{DateTime, Utc};
use moat_openapi::{QuarantineItem, QuarantineQuery, QuarantineUpload};
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::search::{Arg, Conditions, SearchPlan, TextFilter, TextIndex, reported_total, run_search};
use super::{Paging, Scope, Store, with_pool};

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

const QUARANTINE_COLUMNS: &str = "q.id, q.org_id, q.user_id, q.recipient, q.sender, q.subject, q.score, q.reasons, q.size, q.received_at, q.reviewed";

/// The searchable text of quarantined messages (see migration 0009).
const QUARANTINE_TEXT: TextIndex = TextIndex {
    table: "quarantine",
    alias: "q",
    fts: "quarantine_fts",
    trigram_expr: "lower(q.sender || chr(10) || q.recipient || chr(10) || q.subject)",
    columns: &[("sender", "lower(q.sender)"), ("recipient", "q.recipient"), ("subject", "lower(q.subject)")],
};

impl Store {
    /// One quarantined message within `scope` (a plain user: its own and its delegators'),
    /// with the key of its raw bytes.
    pub async fn get_quarantine(&self, scope: Scope, id: &str) -> StoreResult<Option<(QuarantineItem, String)>> {
        #[derive(sqlx::FromRow)]
        struct WithBlob {
            #[sqlx(flatten)]
            row: Row,
            blob_key: String,
        }
        let (msp, org, user) = match scope {
            Scope::Platform => (None, None, None),
            Scope::Msp(msp) => (Some(msp), None, None),
            Scope::Org(org) => (None, Some(org), None),
            Scope::User { org_id, user_id } => (None, Some(org_id), Some(user_id)),
        };
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS}, q.blob_key FROM quarantine q WHERE q.id = $1 \
             AND ($2 IS NULL OR q.org_id IN (SELECT id FROM orgs WHERE msp_id = $2)) AND ($3 IS NULL OR q.org_id = $3) \
             AND ($4 IS NULL OR q.user_id = $4 OR q.user_id IN (SELECT d.id FROM users d WHERE d.quarantine_delegate_id = $4))"
        );
        let row: Option<WithBlob> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(id).bind(msp).bind(org).bind(user).fetch_optional(pool).await)?;
        Ok(row.map(|r| (QuarantineItem::from(r.row), r.blob_key)))
    }

    /// Records a quarantined copy; answers false when it was already there.
    pub async fn insert_quarantine(&self, q: &QuarantineUpload, size: i64, blob_key: &str) -> StoreResult<bool> {
        let reasons = serde_json::to_string(&q.reasons).map_err(StoreError::internal)?;
        let n = with_pool!(self, pool => sqlx::query(
            "INSERT INTO quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, \
             received_at, reviewed, blob_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING")
            .bind(&q.id).bind(q.org_id).bind(q.user_id).bind(q.recipient.to_lowercase()).bind(&q.sender).bind(&q.subject)
            .bind(&q.message_id).bind(q.score).bind(reasons).bind(size).bind(q.received_at).bind(false).bind(blob_key)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Quarantine search within `scope`: the page, the total and whether it was capped.
    pub async fn list_quarantine(
        &self,
        scope: Scope,
        q: &QuarantineQuery,
        paging: Paging,
    ) -> StoreResult<(Vec<QuarantineItem>, i64, bool)> {
        let sqlite = self.is_sqlite();
        let mut base = Conditions::default();
        base.org_scope("q", scope);
        // A plain user: its own quarantine and those delegated to it.
        if let Scope::User { user_id, .. } = scope {
            let u = base.arg(Arg::Uuid(user_id));
            base.add(format!(
                "(q.user_id = {u} OR q.user_id IN (SELECT d.id FROM users d WHERE d.quarantine_delegate_id = {u}))"
            ));
        }
        if let Some(user) = q.user_id {
            base.equals("q.user_id", Arg::Uuid(user));
        }
        if let Some(org) = q.org_id {
            base.equals("q.org_id", Arg::Uuid(org));
        }
        if let Some(reviewed) = q.reviewed {
            base.equals("q.reviewed", Arg::Bool(reviewed));
        }
        base.time_range("q.received_at", q.from, q.to);
        let texts: Vec<TextFilter> = TextFilter::new(None, q.q.as_deref()).into_iter().collect();
        let broad = matches!(scope, Scope::Platform | Scope::Msp(_)) && q.org_id.is_none() && q.user_id.is_none();
        let plan = SearchPlan::new(&QUARANTINE_TEXT, sqlite, broad, base, &texts);
        let (rows, total): (Vec<Row>, i64) = with_pool!(self, pool => run_search!(pool, plan, Row, QUARANTINE_COLUMNS, "q.received_at DESC, q.id", paging));
        let (total, capped) = reported_total(total);
        Ok((rows.into_iter().map(QuarantineItem::from).collect(), total, capped))
    }
}
