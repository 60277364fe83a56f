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
}
