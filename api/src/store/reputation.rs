//! Shared IP reputation: each node stores its own absolute counters per IP or network, and
//! readers sum over nodes. A global version orders the pushes so nodes pull only changes.

use chrono::{DateTime, Utc};
use moat_openapi::IpReputation;
use uuid::Uuid;

use super::error::StoreResult;
use super::{Paging, Scope, Store, now, with_pool};

#[derive(sqlx::FromRow)]
struct Row {
    ip: String,
    connections: i64,
    messages: i64,
    rejected: i64,
    early_talks: i64,
    dnsbl_hits: i64,
    penalty_until: Option<DateTime<Utc>>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

impl From<Row> for IpReputation {
    fn from(r: Row) -> IpReputation {
        IpReputation {
            ip: r.ip,
            connections: r.connections,
            messages: r.messages,
            rejected: r.rejected,
            early_talks: r.early_talks,
            dnsbl_hits: r.dnsbl_hits,
            penalty_until: r.penalty_until,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
        }
    }
}

/// Per-IP sums over nodes (SUM is cast: Postgres would answer NUMERIC).
const AGGREGATE: &str = "SELECT ip, CAST(SUM(connections) AS BIGINT) AS connections, CAST(SUM(messages) AS BIGINT) AS messages, \
     CAST(SUM(rejected) AS BIGINT) AS rejected, CAST(SUM(early_talks) AS BIGINT) AS early_talks, \
     CAST(SUM(dnsbl_hits) AS BIGINT) AS dnsbl_hits, MAX(penalty_until) AS penalty_until, MIN(first_seen) AS first_seen, \
     MAX(last_seen) AS last_seen FROM ip_reputation";

impl Store {
    /// Stores a node's counters for the given IPs.
    pub async fn push_reputation(&self, node_id: Uuid, entries: &[IpReputation]) -> StoreResult<i64> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq: i64 = sqlx::query_scalar("UPDATE reputation_state SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *tx).await?;
            for e in entries {
                let seen = now();
                sqlx::query(
                    "INSERT INTO ip_reputation (ip, node_id, connections, messages, rejected, early_talks, dnsbl_hits, \
                     penalty_until, first_seen, last_seen, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (ip, node_id) DO UPDATE SET connections = excluded.connections, messages = excluded.messages, \
                     rejected = excluded.rejected, early_talks = excluded.early_talks, dnsbl_hits = excluded.dnsbl_hits, \
                     penalty_until = excluded.penalty_until, last_seen = excluded.last_seen, seq = excluded.seq")
                    .bind(&e.ip).bind(node_id).bind(e.connections).bind(e.messages).bind(e.rejected)
                    .bind(e.early_talks).bind(e.dnsbl_hits).bind(e.penalty_until)
                    .bind(e.first_seen.unwrap_or(seen)).bind(e.last_seen.unwrap_or(seen)).bind(seq)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(seq)
        })
    }

    /// IPs whose reputation changed after `since`, summed over nodes, and the new cursor.
    pub async fn reputation_changes(&self, since: i64) -> StoreResult<(i64, Vec<IpReputation>)> {
        let sql =
            format!("{AGGREGATE} WHERE ip IN (SELECT ip FROM ip_reputation WHERE seq > $1) GROUP BY ip ORDER BY ip");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let cursor: i64 = sqlx::query_scalar("SELECT version FROM reputation_state WHERE id = 1").fetch_one(&mut *tx).await?;
            let rows: Vec<Row> = sqlx::query_as(&sql).bind(since).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok((cursor, rows.into_iter().map(IpReputation::from).collect()))
        })
    }

    /// Reputation for admins: one IP/network, or the most recently seen. Below the platform,
    /// only addresses that sent mail to the caller's own organisations are shown.
    pub async fn list_reputation(
        &self,
        scope: Scope,
        ip: Option<&str>,
        paging: Paging,
    ) -> StoreResult<(Vec<IpReputation>, i64)> {
        // `$m` is the MSP filter, `$o` the organisation filter (NULL: no limit).
        let reach = |m: u8, o: u8| {
            format!(
                " AND (${m} IS NULL OR ip IN (SELECT t.client_ip FROM tracked_messages t JOIN orgs g ON g.id = t.org_id \
                 WHERE g.msp_id = ${m})) AND (${o} IS NULL OR ip IN (SELECT client_ip FROM tracked_messages WHERE org_id = ${o}))"
            )
        };
        let list = format!(
            "{AGGREGATE} WHERE ($1 IS NULL OR ip = $1){} GROUP BY ip ORDER BY MAX(last_seen) DESC, ip LIMIT $2 OFFSET $3",
            reach(4, 5)
        );
        let count =
            format!("SELECT COUNT(DISTINCT ip) FROM ip_reputation WHERE ($1 IS NULL OR ip = $1){}", reach(2, 3));
        let (msp, org) = (scope.msp_filter(), scope.org_filter());
        with_pool!(self, pool => {
            let rows: Vec<Row> = sqlx::query_as(&list).bind(ip).bind(paging.limit()).bind(paging.offset())
                .bind(msp).bind(org).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(ip).bind(msp).bind(org).fetch_one(pool).await?;
            Ok((rows.into_iter().map(IpReputation::from).collect(), total))
        })
    }
}
