//! What the worker channel reads and writes: the policy snapshot and its version, node
//! credentials, and message tracking built from worker events.

use chrono::{DateTime, Utc};
use moat_openapi::{
    EventDetail, EventKind, MessageEvent, MessageQuery, OrgPolicy, Policy, PolicySnapshot, RelayNetwork, TrackedEvent,
    TrackedMessage, WorkerDomain, WorkerRecipient, from_wire_name, wire_name,
};
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::search::{Arg, Conditions, SearchPlan, TextFilter, TextIndex, reported_total, run_search};
use super::tenancy::{DOMAIN_COLUMNS, DomainRow};
use super::{Paging, Scope, Store, now, with_pool};

#[derive(sqlx::FromRow)]
struct RecipientRow {
    id: Uuid,
    org_id: Uuid,
    email: String,
}

#[derive(sqlx::FromRow)]
struct TrackedRow {
    id: String,
    org_id: Option<Uuid>,
    direction: String,
    sender: String,
    recipients: String,
    subject: String,
    message_id: String,
    size: i64,
    client_ip: String,
    status: String,
    verdict: Option<String>,
    reasons: String,
    attempts: i64,
    last_error: Option<String>,
    received_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TrackedRow> for TrackedMessage {
    fn from(r: TrackedRow) -> TrackedMessage {
        TrackedMessage {
            id: r.id,
            org_id: r.org_id,
            direction: from_wire_name(&r.direction).unwrap_or_default(),
            sender: r.sender,
            recipients: r.recipients.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            subject: r.subject,
            message_id: r.message_id,
            size: r.size,
            client_ip: r.client_ip,
            status: from_wire_name(&r.status).unwrap_or_default(),
            verdict: r.verdict.as_deref().and_then(from_wire_name),
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            attempts: r.attempts,
            last_error: r.last_error,
            received_at: r.received_at,
            updated_at: r.updated_at,
        }
    }
}

const TRACKED_COLUMNS: &str = "m.id, m.org_id, m.direction, m.sender, m.recipients, m.subject, m.message_id, m.size, \
     m.client_ip, m.status, m.verdict, m.reasons, m.attempts, m.last_error, m.received_at, m.updated_at";
/// Tenant scope of tracked messages; `$3` limits plain users to mail addressed to them.
const TRACKED_SCOPE: &str =
    "($1 IS NULL OR o.msp_id = $1) AND ($2 IS NULL OR m.org_id = $2) AND ($3 IS NULL OR m.recipients LIKE $3)";

/// The searchable text of tracked messages (see migration 0009).
const TRACKED_TEXT: TextIndex = TextIndex {
    table: "tracked_messages",
    alias: "m",
    fts: "tracked_messages_fts",
    trigram_expr: "lower(m.sender || chr(10) || m.recipients || chr(10) || m.subject)",
    columns: &[("sender", "lower(m.sender)"), ("recipients", "m.recipients"), ("subject", "lower(m.subject)")],
};

/// Recipients are stored as `,a@x,b@y,` so one address matches with `LIKE '%,a@x,%'`.
fn join_recipients(list: &[String]) -> String {
    let mut s = String::from(",");
    for r in list {
        s.push_str(&r.to_lowercase());
        s.push(',');
    }
    s
}

/// The mailboxes Moat accepts mail for: organisation users whose address is on a domain of
/// their own organisation. A user whose domain now belongs to another tenant (or to none)
/// receives nothing through the gateway, so no tenant can claim another's addresses.
fn own_domain_recipients(
    domains: &std::collections::HashMap<String, Uuid>,
    users: Vec<RecipientRow>,
) -> Vec<WorkerRecipient> {
    users
        .into_iter()
        .filter(|u| {
            let domain = u.email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            domains.get(domain) == Some(&u.org_id)
        })
        .map(|r| WorkerRecipient { user_id: r.id, org_id: r.org_id, email: r.email })
        .collect()
}

/// What a tracked message's `received` event recorded (direction, recipients, client IP),
/// read back when its verdict comes in a later batch.
macro_rules! arrival_of {
    ($tx:expr, $id:expr) => {{
        let row: Option<(String, String, String, String)> =
            sqlx::query_as("SELECT direction, recipients, client_ip, sender FROM tracked_messages WHERE id = $1")
                .bind($id)
                .fetch_optional(&mut *$tx)
                .await?;
        Ok::<_, sqlx::Error>(match row {
            Some((direction, recipients, ip, sender)) => moat_openapi::EventDetail {
                direction: moat_openapi::from_wire_name(&direction),
                recipients: recipients.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect(),
                client_ip: Some(ip),
                sender: Some(sender),
                ..Default::default()
            },
            None => moat_openapi::EventDetail::default(),
        })
    }};
}

impl Store {
    pub async fn policy_version(&self) -> StoreResult<i64> {
        let v = with_pool!(self, pool => sqlx::query_scalar("SELECT version FROM policy_state WHERE id = 1").fetch_one(pool).await)?;
        Ok(v)
    }

    /// The full snapshot a worker enforces.
    pub async fn policy_snapshot(&self, reverse_whitelist_days: i64) -> StoreResult<PolicySnapshot> {
        let mut snapshot = self.policy_core().await?;
        snapshot.correspondents = self.live_correspondents(reverse_whitelist_days).await?;
        snapshot.orgs = self.org_msps().await?;
        snapshot.lists = self.list_entries(None, None).await?;
        snapshot.blocked_senders = self.blocked_senders().await?;
        snapshot.node_hostnames = self.node_hostnames().await?;
        Ok(snapshot)
    }

    /// Records the host name a node registered with (written only when it changed: a new
    /// name is a policy change every worker picks up).
    pub async fn set_node_hostname(&self, node: Uuid, hostname: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE nodes SET hostname = $1 WHERE id = $2 AND (hostname IS NULL OR hostname <> $3)")
            .bind(hostname).bind(node).bind(hostname).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The host names of the registered nodes that still hold a token (a domain's MX may name
    /// any of them).
    pub async fn node_hostnames(&self) -> StoreResult<Vec<String>> {
        Ok(with_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT hostname FROM nodes WHERE hostname IS NOT NULL AND token_hash NOT LIKE 'revoked:%' \
             ORDER BY hostname LIMIT 1000")
            .fetch_all(pool).await)?)
    }

    async fn policy_core(&self) -> StoreResult<PolicySnapshot> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let version: i64 = sqlx::query_scalar("SELECT version FROM policy_state WHERE id = 1").fetch_one(&mut *tx).await?;
            let domains: Vec<DomainRow> = sqlx::query_as(&format!("SELECT {DOMAIN_COLUMNS} FROM domains d ORDER BY d.name"))
                .fetch_all(&mut *tx).await?;
            let recipients: Vec<RecipientRow> = sqlx::query_as(
                "SELECT id, org_id, email FROM users WHERE org_id IS NOT NULL ORDER BY email").fetch_all(&mut *tx).await?;
            let networks: Vec<(Uuid, String)> = sqlx::query_as("SELECT org_id, cidr FROM allowed_ips ORDER BY cidr").fetch_all(&mut *tx).await?;
            let policies: Vec<(Uuid, String)> = sqlx::query_as("SELECT org_id, policy FROM org_policies").fetch_all(&mut *tx).await?;
            let retries: std::collections::HashMap<Uuid, DateTime<Utc>> = sqlx::query_as::<_, (Uuid, DateTime<Utc>)>(
                "SELECT id, retry_requested_at FROM domains WHERE retry_requested_at IS NOT NULL").fetch_all(&mut *tx).await?
                .into_iter().collect();
            let domain_policies: std::collections::HashMap<Uuid, String> =
                sqlx::query_as::<_, (Uuid, String)>("SELECT domain_id, policy FROM domain_policies").fetch_all(&mut *tx).await?
                    .into_iter().collect();
            tx.commit().await?;
            let domains: Vec<moat_openapi::Domain> = domains.into_iter().map(moat_openapi::Domain::from).collect();
            let domains_by_name: std::collections::HashMap<String, Uuid> =
                domains.iter().map(|d| (d.name.clone(), d.org_id)).collect();
            let policies: Vec<OrgPolicy> = policies.into_iter().map(|(org_id, text)| OrgPolicy {
                org_id,
                policy: serde_json::from_str::<Policy>(&text).unwrap_or_default(),
            }).collect();
            let org_policy: std::collections::HashMap<Uuid, &Policy> = policies.iter().map(|p| (p.org_id, &p.policy)).collect();
            // A domain's entry carries the whole policy that governs it (its organisation's
            // with its own fields), so the worker needs no merging of its own.
            let governing = |d: &moat_openapi::Domain| {
                let overrides = moat_openapi::PolicyOverrides::from_stored(domain_policies.get(&d.id)?).ok()?;
                Some(overrides.apply(org_policy.get(&d.org_id).copied().unwrap_or(&Policy::default())))
            };
            Ok(PolicySnapshot {
                version,
                limits: None,
                blocked_senders: Vec::new(),
                node_hostnames: Vec::new(),
                domains: domains.into_iter().map(|d| {
                    let policy = governing(&d);
                    WorkerDomain {
                        id: d.id,
                        org_id: d.org_id,
                        name: d.name,
                        destination_host: d.destination_host,
                        destination_port: d.destination_port,
                        tls_mode: d.tls_mode,
                        inbound_enabled: d.inbound_enabled,
                        outbound_enabled: d.outbound_enabled,
                        policy,
                        queue_expiry_days: d.queue_expiry_days,
                        retry_requested_at: retries.get(&d.id).copied(),
                    }
                }).collect(),
                recipients: own_domain_recipients(&domains_by_name, recipients),
                relay_networks: networks.into_iter().map(|(org_id, cidr)| RelayNetwork { org_id, cidr }).collect(),
                policies,
                orgs: Vec::new(),
                lists: Vec::new(),
                correspondents: Vec::new(),
            })
        })
    }

    /// The node owning this token hash, touching its last-seen time.
    pub async fn node_by_token_hash(&self, hash: &str) -> StoreResult<Option<(Uuid, String)>> {
        let row: Option<(Uuid, String)> = with_pool!(self, pool => sqlx::query_as("SELECT id, name FROM nodes WHERE token_hash = $1")
            .bind(hash).fetch_optional(pool).await)?;
        if let Some((id, _)) = &row {
            // At most one write a minute per node: workers call the API continuously.
            let at = now();
            with_pool!(self, pool => sqlx::query(
                "UPDATE nodes SET last_seen_at = $1 WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $3)")
                .bind(at).bind(id).bind(at - chrono::Duration::minutes(1))
                .execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(row)
    }

    /// Stores events not seen before and applies them to their tracked message; answers
    /// (accepted, duplicates).
    pub async fn ingest_events(&self, node_id: Uuid, events: &[MessageEvent]) -> StoreResult<(u32, u32)> {
        let (mut accepted, mut duplicates) = (0u32, 0u32);
        // What each message's `received` event said, for the statistics of its verdict.
        let mut arrivals: std::collections::HashMap<&str, &moat_openapi::EventDetail> =
            std::collections::HashMap::new();
        let mut roll_ups = Vec::new();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for e in events {
                if e.kind == EventKind::Received {
                    arrivals.insert(&e.tracking_id, &e.detail);
                }
                let detail = serde_json::to_string(&e.detail).map_err(StoreError::internal)?;
                let stored = sqlx::query("INSERT INTO message_events (id, tracking_id, kind, at, detail) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
                    .bind(e.id).bind(&e.tracking_id).bind(wire_name(&e.kind)).bind(e.at).bind(&detail)
                    .execute(&mut *tx).await?.rows_affected();
                if stored == 0 {
                    duplicates += 1;
                    continue;
                }
                accepted += 1;
                let d = &e.detail;
                let reasons = serde_json::to_string(&d.reasons).map_err(StoreError::internal)?;
                let upsert = if e.kind == EventKind::Received {
                    "ON CONFLICT (id) DO UPDATE SET direction = excluded.direction, sender = excluded.sender, \
                     recipients = excluded.recipients, subject = excluded.subject, message_id = excluded.message_id, \
                     size = excluded.size, client_ip = excluded.client_ip, received_at = excluded.received_at"
                } else {
                    "ON CONFLICT (id) DO NOTHING"
                };
                sqlx::query(&format!(
                    "INSERT INTO tracked_messages (id, org_id, node_id, direction, sender, recipients, subject, message_id, size, \
                     client_ip, status, verdict, reasons, attempts, last_error, received_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received', NULL, '[]', 0, NULL, $11, $11) {upsert}"))
                    .bind(&e.tracking_id).bind(e.org_id).bind(node_id)
                    .bind(wire_name(&d.direction.unwrap_or_default()))
                    .bind(d.sender.clone().unwrap_or_default())
                    .bind(join_recipients(&d.recipients))
                    .bind(d.subject.clone().unwrap_or_default())
                    .bind(d.message_id.clone().unwrap_or_default().trim_matches(|c| c == '<' || c == '>').to_string())
                    .bind(d.size.unwrap_or(0))
                    .bind(d.client_ip.clone().unwrap_or_default())
                    .bind(e.at)
                    .execute(&mut *tx).await?;
                let id = &e.tracking_id;
                if matches!(e.kind, EventKind::Verdict | EventKind::Refused) {
                    let received = match arrivals.get(id.as_str()) {
                        Some(d) => (*d).clone(),
                        None => arrival_of!(tx, id)?,
                    };
                    roll_ups.extend(super::stats::roll_up(e.kind, e.org_id, e.at, &e.detail, &received));
                }
                match e.kind {
                    EventKind::Received => 0,
                    EventKind::Verdict => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, verdict = $3, reasons = $4, status = CASE $3 \
                         WHEN 'deliver' THEN 'queued' WHEN 'quarantine' THEN 'quarantined' ELSE 'rejected' END WHERE id = $2")
                        .bind(e.at).bind(id).bind(wire_name(&d.verdict.unwrap_or_default())).bind(reasons)
                        .execute(&mut *tx).await?.rows_affected(),
                    EventKind::Deferred => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, status = 'deferred', attempts = attempts + 1, last_error = $3 WHERE id = $2")
                        .bind(e.at).bind(id).bind(&d.response).execute(&mut *tx).await?.rows_affected(),
                    EventKind::Delivered => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, status = 'delivered', attempts = attempts + 1, last_error = NULL WHERE id = $2")
                        .bind(e.at).bind(id).execute(&mut *tx).await?.rows_affected(),
                    EventKind::Bounced => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, status = 'bounced', last_error = $3 WHERE id = $2")
                        .bind(e.at).bind(id).bind(&d.response).execute(&mut *tx).await?.rows_affected(),
                    EventKind::Removed => sqlx::query("UPDATE tracked_messages SET updated_at = $1, status = 'removed' WHERE id = $2")
                        .bind(e.at).bind(id).execute(&mut *tx).await?.rows_affected(),
                    EventKind::Failed => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, status = 'failed', last_error = $3 WHERE id = $2")
                        .bind(e.at).bind(id).bind(&d.response).execute(&mut *tx).await?.rows_affected(),
                    EventKind::Refused => sqlx::query(
                        "UPDATE tracked_messages SET updated_at = $1, status = 'rejected', verdict = 'reject', reasons = $3, last_error = $4 WHERE id = $2")
                        .bind(e.at).bind(id).bind(reasons).bind(&d.response).execute(&mut *tx).await?.rows_affected(),
                };
            }
            super::stats::apply_roll_ups!(tx, roll_ups);
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        Ok((accepted, duplicates))
    }

    /// Message tracking search within `scope`; `user_email` limits to mail addressed to it.
    /// Answers the page, the total and whether the total was capped.
    pub async fn list_messages(
        &self,
        scope: Scope,
        user_email: Option<&str>,
        q: &MessageQuery,
        paging: Paging,
    ) -> StoreResult<(Vec<TrackedMessage>, i64, bool)> {
        let sqlite = self.is_sqlite();
        let mut base = Conditions::default();
        base.org_scope("m", scope);
        if let Some(email) = user_email {
            let pattern =
                format!("%,{},%", email.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            let p = base.arg(Arg::Text(pattern));
            base.add(format!("m.recipients LIKE {p}{}", if sqlite { " ESCAPE '\\'" } else { "" }));
        }
        let message_id = q
            .message_id
            .as_deref()
            .map(|m| m.trim().trim_matches(|c| c == '<' || c == '>').to_string())
            .filter(|m| !m.is_empty());
        if let Some(message_id) = message_id {
            base.equals("m.message_id", Arg::Text(message_id));
        }
        if let Some(status) = q.status {
            base.equals("m.status", Arg::Text(wire_name(&status)));
        }
        if let Some(org) = q.org_id {
            base.equals("m.org_id", Arg::Uuid(org));
        }
        base.time_range("m.received_at", q.from, q.to);
        let texts: Vec<TextFilter> = [
            TextFilter::new(None, q.q.as_deref()),
            TextFilter::new(Some("sender"), q.sender.as_deref()),
            TextFilter::new(Some("recipients"), q.recipient.as_deref()),
            TextFilter::new(Some("subject"), q.subject.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let broad = matches!(scope, Scope::Platform | Scope::Msp(_)) && q.org_id.is_none();
        let plan = SearchPlan::new(&TRACKED_TEXT, sqlite, broad, base, &texts);
        let columns = TRACKED_COLUMNS;
        let (rows, total): (Vec<TrackedRow>, i64) =
            with_pool!(self, pool => run_search!(pool, plan, TrackedRow, columns, "m.received_at DESC, m.id", paging));
        let (total, capped) = reported_total(total);
        Ok((rows.into_iter().map(TrackedMessage::from).collect(), total, capped))
    }

    /// One tracked message within `scope`, with its events in order.
    pub async fn get_message(
        &self,
        scope: Scope,
        user_email: Option<&str>,
        id: &str,
    ) -> StoreResult<Option<(TrackedMessage, Vec<TrackedEvent>)>> {
        let mine = user_email.map(|e| format!("%,{},%", e.to_lowercase()));
        let sql = format!(
            "SELECT {TRACKED_COLUMNS} FROM tracked_messages m LEFT JOIN orgs o ON o.id = m.org_id WHERE m.id = $4 AND {TRACKED_SCOPE}"
        );
        with_pool!(self, pool => {
            let row: Option<TrackedRow> = sqlx::query_as(&sql).bind(scope.msp_filter()).bind(scope.org_filter()).bind(&mine).bind(id).fetch_optional(pool).await?;
            let Some(row) = row else { return Ok(None) };
            let events: Vec<(String, DateTime<Utc>, String)> = sqlx::query_as(
                "SELECT kind, at, detail FROM message_events WHERE tracking_id = $1 ORDER BY at, kind").bind(id).fetch_all(pool).await?;
            // Every stored kind is one the API accepted, so all of them read back.
            let events = events.into_iter().filter_map(|(kind, at, detail)| Some(TrackedEvent {
                kind: from_wire_name(&kind)?, at, detail: serde_json::from_str::<EventDetail>(&detail).unwrap_or_default(),
            })).collect();
            Ok(Some((row.into(), events)))
        })
    }
}
