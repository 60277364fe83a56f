//! Purging what outlived its retention: quarantined mail per organisation (rows here, raw
//! bytes by the caller from the keys answered), tracked messages with their events.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::StoreResult;
use super::{Store, with_pool};

/// Rows removed per statement, so a large purge never holds a long lock.
pub const PURGE_BATCH: i64 = 1000;

impl Store {
    /// Every organisation with its policy (the default without one).
    pub(crate) async fn org_policies(&self) -> StoreResult<Vec<(Uuid, moat_openapi::Policy)>> {
        let rows: Vec<(Uuid, Option<String>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT o.id, p.policy FROM orgs o LEFT JOIN org_policies p ON p.org_id = o.id")
            .fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(org, policy)| (org, policy.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default()))
            .collect())
    }

    /// Every organisation with its quarantine retention in days (30 without a policy).
    pub async fn quarantine_retentions(&self) -> StoreResult<Vec<(Uuid, u32)>> {
        Ok(self.org_policies().await?.into_iter().map(|(org, p)| (org, p.quarantine_retention_days.max(1))).collect())
    }

    /// Deletes up to [`PURGE_BATCH`] of `org`'s quarantined messages received before
    /// `cutoff`; answers their blob keys.
    pub async fn purge_quarantine(&self, org: Uuid, cutoff: DateTime<Utc>) -> StoreResult<Vec<String>> {
        let keys = with_pool!(self, pool => sqlx::query_scalar(
            "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE org_id = $1 AND received_at < $2 LIMIT $3) \
             RETURNING blob_key")
            .bind(org).bind(cutoff).bind(PURGE_BATCH).fetch_all(pool).await)?;
        Ok(keys)
    }

    /// Deletes up to [`PURGE_BATCH`] tracked messages last changed before `cutoff`, with
    /// their events; answers how many.
    pub async fn purge_tracking(&self, cutoff: DateTime<Utc>) -> StoreResult<i64> {
        let ids: Vec<String> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<String> = sqlx::query_scalar(
                "DELETE FROM tracked_messages WHERE id IN (SELECT id FROM tracked_messages WHERE updated_at < $1 LIMIT $2) \
                 RETURNING id")
                .bind(cutoff).bind(PURGE_BATCH).fetch_all(&mut *tx).await?;
            for id in &ids {
                sqlx::query("DELETE FROM message_events WHERE tracking_id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        Ok(ids.len() as i64)
    }
}
