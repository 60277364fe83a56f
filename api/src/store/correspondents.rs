//! The reverse whitelist: (user, external address) pairs from outbound mail.

use chrono::Duration;
use moat_openapi::Correspondent;
use uuid::Uuid;

use super::error::StoreResult;
use super::{Store, now, with_pool};

impl Store {
    /// Records pairs (new ones change the policy version; known ones are refreshed).
    pub async fn record_correspondents(&self, pairs: &[Correspondent]) -> StoreResult<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Writing first (not reading) keeps SQLite from having to upgrade a read
            // transaction to a write one, which fails at once when another writer is busy.
            for p in pairs {
                let refreshed = sqlx::query("UPDATE correspondents SET last_seen = $1 WHERE user_id = $2 AND address = $3")
                    .bind(at).bind(p.user_id).bind(p.address.to_lowercase()).execute(&mut *tx).await?.rows_affected();
                if refreshed == 0 {
                    sqlx::query("INSERT INTO correspondents (user_id, address, last_seen) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)")
                        .bind(p.user_id).bind(p.address.to_lowercase()).bind(at).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Pairs used within the last `days`.
    pub async fn live_correspondents(&self, days: i64) -> StoreResult<Vec<Correspondent>> {
        let since = now() - Duration::days(days);
        let rows: Vec<(Uuid, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, address FROM correspondents WHERE last_seen >= $1 ORDER BY user_id, address")
            .bind(since).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(user_id, address)| Correspondent { user_id, address }).collect())
    }

    /// One page of `user`'s reverse whitelist (used within the last `days`), newest first.
    pub async fn user_correspondents(
        &self,
        user: Uuid,
        days: i64,
        paging: super::Paging,
    ) -> StoreResult<(Vec<moat_openapi::CorrespondentEntry>, i64)> {
        let since = now() - Duration::days(days);
        let (rows, total): (Vec<(String, chrono::DateTime<chrono::Utc>)>, i64) = with_pool!(self, pool => {
            let rows = sqlx::query_as(
                "SELECT address, last_seen FROM correspondents WHERE user_id = $1 AND last_seen >= $2 \
                 ORDER BY last_seen DESC, address LIMIT $3 OFFSET $4")
                .bind(user).bind(since).bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total = sqlx::query_scalar("SELECT COUNT(*) FROM correspondents WHERE user_id = $1 AND last_seen >= $2")
                .bind(user).bind(since).fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((rows, total))
        })?;
        Ok((
            rows.into_iter()
                .map(|(address, last_seen)| moat_openapi::CorrespondentEntry { address, last_seen })
                .collect(),
            total,
        ))
    }

    /// Removes one address from `user`'s reverse whitelist; false when it was not there.
    pub async fn forget_correspondent(&self, user: Uuid, address: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM correspondents WHERE user_id = $1 AND address = $2")
            .bind(user).bind(address.trim().to_lowercase()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
