//! Outbound sending counts shared between worker nodes: each node stores its own absolute
//! counts per sender or organisation in its current windows, and gets the other nodes'
//! sums of the keys that changed since its cursor (a global version orders the pushes).

use std::collections::BTreeMap;

use moat_openapi::OutboundCount;
use uuid::Uuid;

use super::error::StoreResult;
use super::{Store, with_pool};

/// Most changed rows one pull reads; one push carries at most [`PUSH_MAX`] rows under one
/// version, so a pull always gets past at least one whole push.
pub const PULL_MAX: i64 = 5000;
pub const PUSH_MAX: usize = 1000;

#[derive(sqlx::FromRow)]
struct Row {
    key: String,
    hour: i64,
    hour_messages: i64,
    day: i64,
    day_messages: i64,
    day_recipients: i64,
}

/// Sums rows per key over the latest hour and the latest day any of them counts in (an
/// older window of a node counts nothing now).
fn summed(rows: Vec<Row>) -> Vec<OutboundCount> {
    let mut sums: BTreeMap<String, OutboundCount> = BTreeMap::new();
    for r in rows {
        let sum =
            sums.entry(r.key.clone()).or_insert_with(|| OutboundCount { key: r.key.clone(), ..Default::default() });
        if r.hour > sum.hour {
            (sum.hour, sum.hour_messages) = (r.hour, 0);
        }
        if r.hour == sum.hour {
            sum.hour_messages += r.hour_messages;
        }
        if r.day > sum.day {
            (sum.day, sum.day_messages, sum.day_recipients) = (r.day, 0, 0);
        }
        if r.day == sum.day {
            sum.day_messages += r.day_messages;
            sum.day_recipients += r.day_recipients;
        }
    }
    sums.into_values().collect()
}

impl Store {
    /// Stores a node's own counts (at most [`PUSH_MAX`]).
    pub async fn push_outbound_counts(&self, node_id: Uuid, counts: &[OutboundCount]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq: i64 = sqlx::query_scalar(
                "UPDATE outbound_count_state SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *tx).await?;
            for c in counts {
                sqlx::query(
                    "INSERT INTO outbound_counts (key, node_id, hour, hour_messages, day, day_messages, day_recipients, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key, node_id) DO UPDATE SET hour = excluded.hour, \
                     hour_messages = excluded.hour_messages, day = excluded.day, day_messages = excluded.day_messages, \
                     day_recipients = excluded.day_recipients, seq = excluded.seq")
                    .bind(&c.key).bind(node_id).bind(c.hour).bind(c.hour_messages).bind(c.day)
                    .bind(c.day_messages).bind(c.day_recipients).bind(seq)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The other nodes' sums of the keys changed after `since`, the cursor to ask from next
    /// and whether more changes wait (when more than [`PULL_MAX`] rows changed).
    pub async fn outbound_count_changes(
        &self,
        node_id: Uuid,
        since: i64,
    ) -> StoreResult<(i64, Vec<OutboundCount>, bool)> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let version: i64 = sqlx::query_scalar("SELECT version FROM outbound_count_state WHERE id = 1")
                .fetch_one(&mut *tx).await?;
            // Cut before the version of the first row past the limit: its push is read whole next time.
            let past: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM outbound_counts WHERE seq > $1 ORDER BY seq LIMIT 1 OFFSET $2")
                .bind(since).bind(PULL_MAX).fetch_optional(&mut *tx).await?;
            let upto = match past {
                Some(seq) => (seq - 1).max(since + 1),
                None => version,
            };
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT key, hour, hour_messages, day, day_messages, day_recipients FROM outbound_counts \
                 WHERE node_id <> $1 AND key IN (SELECT key FROM outbound_counts WHERE seq > $2 AND seq <= $3)")
                .bind(node_id).bind(since).bind(upto).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok((upto, summed(rows), past.is_some()))
        })
    }

    /// Forgets the counts of windows before `day` (days since the Unix epoch).
    pub async fn purge_outbound_counts(&self, day: i64) -> StoreResult<u64> {
        Ok(with_pool!(self, pool => sqlx::query("DELETE FROM outbound_counts WHERE day < $1")
            .bind(day).execute(pool).await.map(|r| r.rows_affected()))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_sums_the_latest_hour_and_day_of_its_nodes() {
        let row = |key: &str, hour, hour_messages, day, day_messages| Row {
            key: key.into(),
            hour,
            hour_messages,
            day,
            day_messages,
            day_recipients: day_messages * 2,
        };
        let sums =
            summed(vec![row("k", 10, 3, 1, 5), row("k", 11, 2, 1, 4), row("k", 11, 1, 1, 1), row("j", 9, 7, 0, 7)]);
        assert_eq!(
            sums,
            vec![
                OutboundCount {
                    key: "j".into(),
                    hour: 9,
                    hour_messages: 7,
                    day: 0,
                    day_messages: 7,
                    day_recipients: 14
                },
                OutboundCount {
                    key: "k".into(),
                    hour: 11,
                    hour_messages: 3,
                    day: 1,
                    day_messages: 10,
                    day_recipients: 20
                },
            ]
        );
    }
}
