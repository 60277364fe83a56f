//! The Live Archive: archived messages (metadata and search text; raw bytes in the blob
//! store), the mailboxes they are in, their conversations, their delivery state (that of the
//! tracked route each mailbox row names), retention, and the delivery reports of workers
//! that make a domain's continuity state.

use chrono::{DateTime, Utc};
use moat_openapi::{
    ArchiveItem, ArchiveMailboxRef, DeliveryReport, DeliveryState, Direction, Domain, DomainDelivery, Mailbox,
    from_wire_name, wire_name,
};
use uuid::Uuid;

use super::error::StoreResult;
use super::search::{Arg, Conditions, MAX_EXACT_TOTAL, TextFilter, bind_args, reported_total};
use super::{Paging, Store, now, with_pool};
use crate::archive::facts::Facts;

/// A worker's report counts for this long; a node that stopped reporting drops out.
const REPORT_FRESH_SECS: i64 = 60;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    org_id: Uuid,
    user_id: Uuid,
    mailbox: String,
    subject: String,
    sender: String,
    recipients: String,
    received_at: DateTime<Utc>,
    size: i64,
    has_attachments: bool,
    snippet: String,
    thread_id: String,
    status: Option<String>,
    last_error: Option<String>,
}

/// A tracked route's status as the mailbox shows it.
fn state_of(status: Option<&str>) -> Option<DeliveryState> {
    Some(match status? {
        "delivered" => DeliveryState::Delivered,
        "deferred" => DeliveryState::Deferred,
        "bounced" | "failed" | "removed" => DeliveryState::Bounced,
        _ => DeliveryState::Queued,
    })
}

impl From<Row> for ArchiveItem {
    fn from(r: Row) -> ArchiveItem {
        let state = state_of(r.status.as_deref());
        let failing = matches!(state, Some(DeliveryState::Deferred | DeliveryState::Bounced));
        ArchiveItem {
            id: r.id,
            org_id: r.org_id,
            user_id: r.user_id,
            mailbox: from_wire_name(&r.mailbox).unwrap_or_default(),
            subject: r.subject,
            sender: r.sender,
            recipients: r.recipients.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            received_at: r.received_at,
            size: r.size,
            has_attachments: r.has_attachments,
            snippet: r.snippet,
            thread_id: r.thread_id,
            state,
            last_error: r.last_error.filter(|_| failing),
        }
    }
}

const ARCHIVE_COLUMNS: &str = "a.id, a.org_id, b.user_id, b.mailbox, a.subject, a.sender, a.recipients, b.received_at, \
     a.size, a.has_attachments, a.snippet, a.thread_id, t.status, t.last_error";
const ARCHIVE_FROM: &str = "archive_mailboxes b JOIN archive_messages a ON a.id = b.archive_id \
     LEFT JOIN tracked_messages t ON t.id = b.tracking_id";

/// One archived message as the API stores it.
pub struct NewArchived<'a> {
    pub id: &'a str,
    pub org_id: Uuid,
    pub direction: Direction,
    pub received_at: DateTime<Utc>,
    pub size: i64,
    pub blob_key: &'a str,
    pub facts: &'a Facts,
    pub mailboxes: &'a [ArchiveMailboxRef],
}

/// What became of an archive copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filing {
    New,
    AlreadyThere,
    /// None of its addresses is a user of its organisation: nothing to keep.
    NoMailbox,
}

/// An archived message found for a reader, with what reading it needs.
pub struct Archived {
    pub item: ArchiveItem,
    pub message_id: String,
    pub blob_key: String,
}

impl Store {
    /// Records an archive copy and its mailbox rows (addresses that are users of its
    /// organisation; others are skipped).
    pub async fn insert_archive(&self, m: &NewArchived<'_>) -> StoreResult<Filing> {
        let f = m.facts;
        let addresses: Vec<String> = m.mailboxes.iter().map(|b| b.address.to_lowercase()).collect();
        // Reads first, outside the transaction: on SQLite a transaction that reads before it
        // writes fails at once (SQLITE_BUSY_SNAPSHOT) when another writer got in between.
        with_pool!(self, pool => {
            let mut users = Vec::new();
            for chunk in addresses.chunks(100) {
                let mut c = Conditions::default();
                c.equals("org_id", Arg::Uuid(m.org_id));
                let list: Vec<String> = chunk.iter().map(|a| c.arg(Arg::Text(a.clone()))).collect();
                c.add(format!("email IN ({})", list.join(", ")));
                let sql = format!("SELECT id, email FROM users WHERE {}", c.sql());
                let found: Vec<(Uuid, String)> = bind_args!(sqlx::query_as(&sql), c.args).fetch_all(pool).await?;
                users.extend(found);
            }
            if users.is_empty() {
                let known: Option<String> = sqlx::query_scalar("SELECT id FROM archive_messages WHERE id = $1")
                    .bind(m.id).fetch_optional(pool).await?;
                return Ok(if known.is_some() { Filing::AlreadyThere } else { Filing::NoMailbox });
            }
            // A parent already archived gives the conversation; else its first reference
            // (the root, which takes its own id as thread when it arrives later), else its own id.
            let mut thread: Option<String> = None;
            if !f.parents.is_empty() {
                let mut c = Conditions::default();
                c.equals("org_id", Arg::Uuid(m.org_id));
                let list: Vec<String> = f.parents.iter().map(|p| c.arg(Arg::Text(p.clone()))).collect();
                c.add(format!("message_id IN ({})", list.join(", ")));
                let sql = format!("SELECT thread_id FROM archive_messages WHERE {} LIMIT 1", c.sql());
                thread = bind_args!(sqlx::query_scalar::<_, String>(&sql), c.args).fetch_optional(pool).await?;
            }
            let thread = thread
                .or_else(|| f.parents.first().cloned())
                .unwrap_or_else(|| if f.message_id.is_empty() { m.id.to_string() } else { f.message_id.clone() });
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO archive_messages (id, org_id, direction, sender, recipients, subject, message_id, thread_id, \
                 snippet, has_attachments, size, received_at, blob_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING")
                .bind(m.id).bind(m.org_id).bind(wire_name(&m.direction)).bind(&f.sender)
                .bind(format!(",{},", f.recipients.join(","))).bind(&f.subject).bind(&f.message_id).bind(&thread)
                .bind(&f.snippet).bind(f.has_attachments).bind(m.size).bind(m.received_at)
                .bind(m.blob_key)
                .execute(&mut *tx).await?.rows_affected();
            if inserted == 0 {
                return Ok(Filing::AlreadyThere);
            }
            for b in m.mailboxes {
                let Some((user, _)) = users.iter().find(|(_, email)| email.eq_ignore_ascii_case(&b.address)) else {
                    continue;
                };
                sqlx::query(
                    "INSERT INTO archive_mailboxes (archive_id, user_id, mailbox, tracking_id, search_text, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
                    .bind(m.id).bind(user).bind(wire_name(&b.mailbox)).bind(&b.tracking_id).bind(&f.search_text)
                    .bind(m.received_at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<Filing, sqlx::Error>(Filing::New)
        })
        .map_err(Into::into)
    }

    /// One user's mailbox, newest first, with `q` a substring of the sender, recipients,
    /// subject or text: the page, the total and whether it was capped. The page is found
    /// first; the matches are counted only when the page does not already tell how many
    /// there are (a rare word has every row of the mailbox looked at: once, not twice).
    pub async fn list_archive(
        &self,
        user_id: Uuid,
        mailbox: Mailbox,
        q: Option<&str>,
        paging: Paging,
    ) -> StoreResult<(Vec<ArchiveItem>, i64, bool)> {
        let sqlite = self.is_sqlite();
        let mut c = Conditions::default();
        c.equals("b.user_id", Arg::Uuid(user_id));
        c.equals("b.mailbox", Arg::Text(wire_name(&mailbox)));
        if let Some(text) = TextFilter::new(None, q) {
            let p = c.arg(Arg::Text(text.like_pattern()));
            c.add(format!("b.search_text LIKE {p}{}", if sqlite { " ESCAPE '\\'" } else { "" }));
        }
        let count = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM archive_mailboxes b WHERE {} LIMIT {}) capped",
            c.sql(),
            MAX_EXACT_TOTAL + 1
        );
        let mut listing = c.clone();
        let (limit, offset) = (listing.arg(Arg::Int(paging.limit())), listing.arg(Arg::Int(paging.offset())));
        let list = format!(
            "SELECT {ARCHIVE_COLUMNS} FROM {ARCHIVE_FROM} WHERE {} ORDER BY b.received_at DESC, b.archive_id DESC \
             LIMIT {limit} OFFSET {offset}",
            listing.sql()
        );
        let (rows, total): (Vec<Row>, i64) = with_pool!(self, pool => {
            let rows: Vec<Row> = bind_args!(sqlx::query_as::<_, Row>(&list), listing.args).fetch_all(pool).await?;
            let short = (rows.len() as i64) < paging.limit() && (!rows.is_empty() || paging.offset() == 0);
            let total = if short {
                paging.offset() + rows.len() as i64
            } else {
                bind_args!(sqlx::query_scalar::<_, i64>(&count), c.args).fetch_one(pool).await?
            };
            Ok::<_, sqlx::Error>((rows, total))
        })?;
        let (total, capped) = reported_total(total);
        Ok((rows.into_iter().map(ArchiveItem::from).collect(), total, capped))
    }

    /// Message `id` in one of `user_id`'s mailboxes (Inbox first when it is in both).
    pub async fn get_archive(&self, user_id: Uuid, id: &str) -> StoreResult<Option<Archived>> {
        #[derive(sqlx::FromRow)]
        struct Full {
            #[sqlx(flatten)]
            row: Row,
            message_id: String,
            blob_key: String,
        }
        let sql = format!(
            "SELECT {ARCHIVE_COLUMNS}, a.message_id, a.blob_key FROM {ARCHIVE_FROM} \
             WHERE b.user_id = $1 AND b.archive_id = $2 ORDER BY b.mailbox LIMIT 1"
        );
        let row: Option<Full> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|r| Archived { item: ArchiveItem::from(r.row), message_id: r.message_id, blob_key: r.blob_key }))
    }

    /// The conversation `thread_id` in `user_id`'s mailboxes, oldest first (at most 200).
    pub async fn archive_thread(&self, user_id: Uuid, org_id: Uuid, thread_id: &str) -> StoreResult<Vec<ArchiveItem>> {
        let sql = format!(
            "SELECT {ARCHIVE_COLUMNS} FROM {ARCHIVE_FROM} WHERE b.user_id = $1 AND a.org_id = $2 AND a.thread_id = $3 \
             ORDER BY b.received_at, b.archive_id, b.mailbox LIMIT 200"
        );
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).bind(org_id).bind(thread_id).fetch_all(pool).await)?;
        let mut items: Vec<ArchiveItem> = Vec::new();
        for item in rows.into_iter().map(ArchiveItem::from) {
            // A message in both folders (sent to oneself) is one message of the conversation.
            if !items.iter().any(|i| i.id == item.id) {
                items.push(item);
            }
        }
        Ok(items)
    }

    /// Every organisation with its archive retention in days (7 without a policy).
    pub async fn archive_retentions(&self) -> StoreResult<Vec<(Uuid, u32)>> {
        Ok(self.org_policies().await?.into_iter().map(|(org, p)| (org, p.archive_retention_days.max(1))).collect())
    }

    /// Deletes up to [`super::PURGE_BATCH`] of `org`'s archived messages received before
    /// `cutoff`, with their mailbox rows; answers their blob keys.
    pub async fn purge_archive(&self, org: Uuid, cutoff: DateTime<Utc>) -> StoreResult<Vec<String>> {
        let keys = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM archive_messages WHERE org_id = $1 AND received_at < $2 LIMIT $3")
                .bind(org).bind(cutoff).bind(super::PURGE_BATCH).fetch_all(&mut *tx).await?;
            let mut keys = Vec::new();
            for id in &ids {
                sqlx::query("DELETE FROM archive_mailboxes WHERE archive_id = $1").bind(id).execute(&mut *tx).await?;
                let key: Option<String> = sqlx::query_scalar("DELETE FROM archive_messages WHERE id = $1 RETURNING blob_key")
                    .bind(id).fetch_optional(&mut *tx).await?;
                keys.extend(key);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(keys)
        })?;
        Ok(keys)
    }

    /// Replaces what node `node_id` last reported.
    pub async fn record_delivery_report(&self, node_id: Uuid, report: &DeliveryReport) -> StoreResult<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM delivery_status WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
            for d in &report.destinations {
                sqlx::query(
                    "INSERT INTO delivery_status (node_id, domain, waiting, oldest_at, unreachable_since, last_error, reported_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
                    .bind(node_id).bind(d.domain.to_ascii_lowercase()).bind(d.waiting.max(0)).bind(d.oldest_at)
                    .bind(d.unreachable_since).bind(&d.last_error).bind(at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    /// A domain's continuity state from the fresh reports of every node.
    pub async fn domain_delivery(&self, domain: &Domain) -> StoreResult<DomainDelivery> {
        type Report = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);
        let fresh = now() - chrono::Duration::seconds(REPORT_FRESH_SECS);
        let (reports, retry): (Vec<Report>, Option<DateTime<Utc>>) = with_pool!(self, pool => {
            let reports: Vec<Report> = sqlx::query_as(
                "SELECT waiting, oldest_at, unreachable_since, last_error FROM delivery_status \
                 WHERE domain = $1 AND reported_at >= $2 ORDER BY unreachable_since")
                .bind(&domain.name).bind(fresh).fetch_all(pool).await?;
            let retry: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT retry_requested_at FROM domains WHERE id = $1")
                .bind(domain.id).fetch_optional(pool).await?.flatten();
            Ok::<_, sqlx::Error>((reports, retry))
        })?;
        let failing: Vec<&Report> = reports.iter().filter(|r| r.2.is_some()).collect();
        Ok(DomainDelivery {
            domain_id: domain.id,
            domain: domain.name.clone(),
            reachable: failing.is_empty(),
            unreachable_since: failing.iter().filter_map(|r| r.2).min(),
            last_error: failing.first().and_then(|r| r.3.clone()),
            waiting: reports.iter().map(|r| r.0).sum(),
            oldest_at: reports.iter().filter_map(|r| r.1).min(),
            queue_expiry_days: domain.queue_expiry_days,
            retry_requested_at: retry,
        })
    }

    /// Asks every worker to try the domain's waiting mail now.
    pub async fn request_retry(&self, domain_id: Uuid) -> StoreResult<DateTime<Utc>> {
        let at = now();
        with_pool!(self, pool => sqlx::query("UPDATE domains SET retry_requested_at = $1 WHERE id = $2")
            .bind(at).bind(domain_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(at)
    }

    /// Hands a message written in the archive to the workers: an `archive_send` job for
    /// all its recipients (comma-joined in `recipient`). Answers the job's id.
    pub async fn create_send_job(
        &self,
        org_id: Uuid,
        sender: &str,
        recipients: &[String],
        blob_key: &str,
    ) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO worker_jobs (id, kind, quarantine_id, org_id, recipient, sender, blob_key, released_by, status, \
             created_at) VALUES ($1, 'archive_send', $2, $3, $4, $5, $6, $5, 'pending', $7)")
            .bind(id).bind(id.to_string()).bind(org_id).bind(recipients.join(",")).bind(sender).bind(blob_key).bind(now())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(id)
    }

    /// How many messages `sender` sent from the archive since `since`.
    pub async fn sends_since(&self, sender: &str, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM worker_jobs WHERE kind = 'archive_send' AND sender = $1 AND created_at >= $2")
            .bind(sender).bind(since).fetch_one(pool).await)?;
        Ok(n)
    }
}
