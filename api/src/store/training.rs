//! The training feed: what users reported (or released) for the classifier, read by
//! workers in order.

use uuid::Uuid;

use super::error::StoreResult;
use super::quarantine::reach_of_ids;
use super::search::bind_args;
use super::{Scope, Store, now, with_pool};

/// One feed entry as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Feedback {
    pub seq: i64,
    pub org_id: Uuid,
    pub spam: bool,
    pub blob_key: String,
}

impl Store {
    /// Records that the messages `ids` within `scope` are spam (or ham); each message counts
    /// once per class. Answers how many entries are new.
    pub async fn add_feedback(&self, scope: Scope, ids: &[String], spam: bool) -> StoreResult<i64> {
        let c = reach_of_ids(scope, ids);
        let select = format!("SELECT q.id, q.org_id, q.blob_key FROM quarantine q WHERE {}", c.sql());
        let at = now();
        let added = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<(String, Uuid, String)> = bind_args!(sqlx::query_as(&select), c.args).fetch_all(&mut *tx).await?;
            let mut added = 0i64;
            for (id, org, blob) in rows {
                added += sqlx::query(
                    "INSERT INTO training_feedback (org_id, quarantine_id, spam, blob_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                    .bind(org).bind(&id).bind(spam).bind(&blob).bind(at).execute(&mut *tx).await?.rows_affected() as i64;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(added)
        })?;
        Ok(added)
    }

    /// Feed entries after `after`, in order, at most `limit`.
    pub async fn feedback_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Feedback>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Feedback>(
            "SELECT CAST(seq AS BIGINT) AS seq, org_id, spam, blob_key FROM training_feedback WHERE seq > $1 \
             ORDER BY seq LIMIT $2")
            .bind(after).bind(limit).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Drops feed entries made before `cutoff`.
    pub async fn purge_feedback(&self, cutoff: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM training_feedback WHERE created_at < $1")
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}
