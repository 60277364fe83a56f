//! Quarantined messages: metadata and search (the raw bytes live in the blob store).

use chrono::{DateTime, Utc};
use moat_openapi::{QuarantineItem, QuarantineQuery, QuarantineSummary, QuarantineUpload, ReasonCode, UserUnread};
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::search::{Arg, Conditions, SearchPlan, TextFilter, TextIndex, bind_args, reported_total, run_search};
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
    #[sqlx(try_from = "String")]
    direction: moat_openapi::Direction,
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
            direction: r.direction,
            explanation: None,
        }
    }
}

const QUARANTINE_COLUMNS: &str = "q.id, q.org_id, q.user_id, q.recipient, q.sender, q.subject, q.score, q.reasons, q.size, q.received_at, q.reviewed, q.direction";

/// The searchable text of quarantined messages (see migration 0009).
const QUARANTINE_TEXT: TextIndex = TextIndex {
    table: "quarantine",
    alias: "q",
    fts: "quarantine_fts",
    trigram_expr: "lower(q.sender || chr(10) || q.recipient || chr(10) || q.subject)",
    columns: &[("sender", "lower(q.sender)"), ("recipient", "q.recipient"), ("subject", "lower(q.subject)")],
};

/// The quarantine rows `scope` reaches: its organisations, and for a plain user its own
/// messages and those of the users who delegated their quarantine to it.
pub(crate) fn reach(scope: Scope) -> Conditions {
    let mut c = Conditions::default();
    c.org_scope("q", scope);
    if let Scope::User { user_id, .. } = scope {
        let u = c.arg(Arg::Uuid(user_id));
        c.add(format!(
            "(q.user_id = {u} OR q.user_id IN (SELECT d.id FROM users d WHERE d.quarantine_delegate_id = {u}))"
        ));
    }
    c
}

/// `reach(scope)` and `q.id IN (ids)`.
pub(crate) fn reach_of_ids(scope: Scope, ids: &[String]) -> Conditions {
    let mut c = reach(scope);
    let list: Vec<String> = ids.iter().map(|id| c.arg(Arg::Text(id.clone()))).collect();
    c.add(format!("q.id IN ({})", list.join(", ")));
    c
}

/// The SQL test of an explanation code on the stored reasons (a JSON array of strings),
/// in the order `crate::reasons::explain` tries them.
fn reason_condition(code: ReasonCode) -> String {
    const BLOCK: &str = "(q.reasons LIKE '%\"block list%' OR q.reasons LIKE '%\"sender blocked%')";
    const ATTACHMENT: &str = "q.reasons LIKE '%\"attachment: %'";
    const DMARC: &str = "q.reasons LIKE '%\"DMARC: %'";
    const GTUBE: &str = "q.reasons LIKE '%\"GTUBE\"%'";
    let earlier =
        |n: usize| [BLOCK, ATTACHMENT, DMARC, GTUBE][..n].iter().map(|c| format!(" AND NOT {c}")).collect::<String>();
    match code {
        ReasonCode::BlockList => BLOCK.to_string(),
        ReasonCode::Attachment => format!("{ATTACHMENT}{}", earlier(1)),
        ReasonCode::Dmarc => format!("{DMARC}{}", earlier(2)),
        ReasonCode::TestPattern => format!("{GTUBE}{}", earlier(3)),
        ReasonCode::Spam | ReasonCode::Policy => format!("1 = 1{}", earlier(4)),
    }
}

impl Store {
    /// How many of `ids` (distinct) `scope` reaches.
    pub async fn quarantine_in_reach(&self, scope: Scope, ids: &[String]) -> StoreResult<i64> {
        let c = reach_of_ids(scope, ids);
        let sql = format!("SELECT COUNT(*) FROM quarantine q WHERE {}", c.sql());
        let n = with_pool!(self, pool => bind_args!(sqlx::query_scalar::<_, i64>(&sql), c.args).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Marks messages reviewed or not; answers how many changed.
    pub async fn set_reviewed(&self, scope: Scope, ids: &[String], reviewed: bool) -> StoreResult<i64> {
        let mut c = reach_of_ids(scope, ids);
        let value = c.arg(Arg::Bool(reviewed));
        let sql = format!(
            "UPDATE quarantine SET reviewed = {value} WHERE id IN (SELECT q.id FROM quarantine q WHERE {}) \
             AND reviewed <> {value}",
            c.sql()
        );
        let n = with_pool!(self, pool => bind_args!(sqlx::query(&sql), c.args).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n as i64)
    }

    /// Deletes messages; answers the keys of their raw bytes (for the blob store).
    pub async fn delete_quarantine(&self, scope: Scope, ids: &[String]) -> StoreResult<Vec<String>> {
        let c = reach_of_ids(scope, ids);
        let sql = format!(
            "DELETE FROM quarantine WHERE id IN (SELECT q.id FROM quarantine q WHERE {}) RETURNING blob_key",
            c.sql()
        );
        let keys =
            with_pool!(self, pool => bind_args!(sqlx::query_scalar::<_, String>(&sql), c.args).fetch_all(pool).await)?;
        Ok(keys)
    }

    /// Unread and total within `scope`, and the unread count per user (most first, 500 at most).
    pub async fn quarantine_summary(&self, scope: Scope) -> StoreResult<QuarantineSummary> {
        let c = reach(scope);
        let totals = format!(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN q.reviewed THEN 0 ELSE 1 END), 0) AS BIGINT) \
             FROM quarantine q WHERE {}",
            c.sql()
        );
        let per_user = format!(
            "SELECT q.user_id, CAST(COUNT(*) AS BIGINT) AS unread FROM quarantine q WHERE {} AND NOT q.reviewed \
             AND q.user_id IS NOT NULL GROUP BY q.user_id ORDER BY unread DESC, q.user_id LIMIT 500",
            c.sql()
        );
        let ((total, unread), users): ((i64, i64), Vec<(Uuid, i64)>) = with_pool!(self, pool => {
            let totals = bind_args!(sqlx::query_as::<_, (i64, i64)>(&totals), c.args).fetch_one(pool).await?;
            let users = bind_args!(sqlx::query_as::<_, (Uuid, i64)>(&per_user), c.args).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>((totals, users))
        })?;
        let users = users.into_iter().map(|(user_id, unread)| UserUnread { user_id, unread }).collect();
        Ok(QuarantineSummary { unread, total, users })
    }

    /// One quarantined message within `scope` (a plain user: its own and its delegators'),
    /// with the key of its raw bytes.
    pub async fn get_quarantine(&self, scope: Scope, id: &str) -> StoreResult<Option<(QuarantineItem, String)>> {
        #[derive(sqlx::FromRow)]
        struct WithBlob {
            #[sqlx(flatten)]
            row: Row,
            blob_key: String,
        }
        let c = reach_of_ids(scope, &[id.to_string()]);
        let sql = format!("SELECT {QUARANTINE_COLUMNS}, q.blob_key FROM quarantine q WHERE {}", c.sql());
        let row: Option<WithBlob> = with_pool!(self, pool => bind_args!(sqlx::query_as::<_, WithBlob>(&sql), c.args).fetch_optional(pool).await)?;
        Ok(row.map(|r| (QuarantineItem::from(r.row), r.blob_key)))
    }

    /// A user's digest: its unreviewed held messages (its own and its delegators'), newest
    /// first, with `only_new` those no digest listed yet; at most `limit`, and how many there
    /// are in all.
    pub async fn digest_items(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        only_new: bool,
        limit: i64,
    ) -> StoreResult<(Vec<QuarantineItem>, i64)> {
        #[derive(sqlx::FromRow)]
        struct Counted {
            #[sqlx(flatten)]
            row: Row,
            total: i64,
        }
        let mut c = reach(Scope::User { org_id, user_id });
        c.equals("q.reviewed", Arg::Bool(false));
        if only_new {
            c.add("q.digested_at IS NULL".into());
        }
        let limit_arg = c.arg(Arg::Int(limit));
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS}, CAST(COUNT(*) OVER () AS BIGINT) AS total FROM quarantine q WHERE {} \
             ORDER BY q.received_at DESC, q.id LIMIT {limit_arg}",
            c.sql()
        );
        let rows: Vec<Counted> =
            with_pool!(self, pool => bind_args!(sqlx::query_as::<_, Counted>(&sql), c.args).fetch_all(pool).await)?;
        let total = rows.first().map(|r| r.total).unwrap_or(0);
        Ok((rows.into_iter().map(|r| QuarantineItem::from(r.row)).collect(), total))
    }

    /// Records a quarantined copy; answers false when it was already there.
    pub async fn insert_quarantine(&self, q: &QuarantineUpload, size: i64, blob_key: &str) -> StoreResult<bool> {
        let reasons = serde_json::to_string(&q.reasons).map_err(StoreError::internal)?;
        let n = with_pool!(self, pool => sqlx::query(
            "INSERT INTO quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, \
             received_at, reviewed, blob_key, direction) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO NOTHING")
            .bind(&q.id).bind(q.org_id).bind(q.user_id).bind(q.recipient.to_lowercase()).bind(&q.sender).bind(&q.subject)
            .bind(&q.message_id).bind(q.score).bind(reasons).bind(size).bind(q.received_at).bind(false).bind(blob_key)
            .bind(moat_openapi::wire_name(&q.direction)).execute(pool).await.map(|r| r.rows_affected()))?;
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
        let mut base = reach(scope);
        if let Some(user) = q.user_id {
            base.equals("q.user_id", Arg::Uuid(user));
        }
        if let Some(org) = q.org_id {
            base.equals("q.org_id", Arg::Uuid(org));
        }
        if let Some(reviewed) = q.reviewed {
            base.equals("q.reviewed", Arg::Bool(reviewed));
        }
        if let Some(direction) = q.direction {
            base.equals("q.direction", Arg::Text(moat_openapi::wire_name(&direction)));
        }
        if let Some(code) = q.reason {
            base.add(reason_condition(code));
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
