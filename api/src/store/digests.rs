//! Digest schedules: each organisation user's settings row (made with the defaults the
//! first time the scheduler sees the user), the due digests, and their outcome.

use chrono::{DateTime, Utc};
use moat_openapi::DigestSchedule;
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::users::{USER_COLUMNS, insert_mail};
use super::{Store, SystemMail, UserRecord, with_pool};

/// A user's digest settings as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRow {
    pub user_id: Uuid,
    pub schedule: DigestSchedule,
    /// None: to be (re)computed by the scheduler.
    pub next_at: Option<DateTime<Utc>>,
    pub last_sent_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    user_id: Uuid,
    enabled: bool,
    times: String,
    only_new: bool,
    next_at: Option<DateTime<Utc>>,
    last_sent_at: Option<DateTime<Utc>>,
}

impl From<Row> for DigestRow {
    fn from(r: Row) -> DigestRow {
        let times = serde_json::from_str(&r.times).unwrap_or_default();
        DigestRow {
            user_id: r.user_id,
            schedule: DigestSchedule { enabled: r.enabled, times, only_new: r.only_new },
            next_at: r.next_at,
            last_sent_at: r.last_sent_at,
        }
    }
}

/// A digest that is due: its user and settings.
#[derive(Debug, Clone)]
pub struct DueDigest {
    pub user: UserRecord,
    pub row: DigestRow,
}

/// What making one digest came to: the mail (none when nothing was held), the messages it
/// lists, and the next time.
#[derive(Debug, Clone)]
pub struct DigestMade {
    pub user_id: Uuid,
    pub mail: Option<SystemMail>,
    pub listed: Vec<String>,
    pub made_at: DateTime<Utc>,
    pub next_at: Option<DateTime<Utc>>,
}

/// Marks the messages of `$listed` (`(&id, listed at)` pairs) listed, a few hundred per
/// statement, where no digest listed them before.
macro_rules! mark_listed {
    ($tx:expr, $listed:expr) => {
        for chunk in $listed.chunks(500) {
            let sql = format!(
                "UPDATE quarantine SET digested_at = v.column2 FROM (VALUES {}) AS v \
                 WHERE quarantine.id = v.column1 AND quarantine.digested_at IS NULL",
                values(chunk.len(), 2, |n| format!("(${}, ${})", n + 1, n + 2))
            );
            let mut query = sqlx::query(&sql);
            for (id, at) in chunk {
                query = query.bind(*id).bind(*at);
            }
            query.execute(&mut *$tx).await?;
        }
    };
}

/// `rows` value tuples of `width` placeholders each, `tuple(first placeholder - 1)` writing one.
fn values(rows: usize, width: usize, tuple: impl Fn(usize) -> String) -> String {
    (0..rows).map(|r| tuple(r * width)).collect::<Vec<_>>().join(", ")
}

const DIGEST_COLUMNS: &str = "d.user_id, d.enabled, d.times, d.only_new, d.next_at, d.last_sent_at";

impl Store {
    /// A user's digest settings, if it has a row yet.
    pub async fn digest_settings(&self, user_id: Uuid) -> StoreResult<Option<DigestRow>> {
        let sql = format!("SELECT {DIGEST_COLUMNS} FROM digest_settings d WHERE d.user_id = $1");
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_optional(pool).await)?;
        Ok(row.map(DigestRow::from))
    }

    /// Stores a user's schedule and its next time (the last-sent time stays).
    pub async fn save_digest_settings(&self, row: &DigestRow) -> StoreResult<()> {
        let times = serde_json::to_string(&row.schedule.times).map_err(StoreError::internal)?;
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO digest_settings (user_id, enabled, times, only_new, next_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, times = excluded.times, \
             only_new = excluded.only_new, next_at = excluded.next_at")
            .bind(row.user_id).bind(row.schedule.enabled).bind(times).bind(row.schedule.only_new).bind(row.next_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Makes the scheduler work out a user's next digest again (its time zone changed).
    pub async fn reschedule_digest(&self, user_id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("UPDATE digest_settings SET next_at = NULL WHERE user_id = $1")
            .bind(user_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Gives up to `limit` organisation users without settings the default schedule (its
    /// next time still to be worked out); answers how many.
    pub async fn add_default_digest_rows(&self, limit: i64) -> StoreResult<u64> {
        let defaults = DigestSchedule::default();
        let times = serde_json::to_string(&defaults.times).map_err(StoreError::internal)?;
        let n = with_pool!(self, pool => sqlx::query(
            "INSERT INTO digest_settings (user_id, enabled, times, only_new) \
             SELECT u.id, $1, $2, $3 FROM users u WHERE u.org_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM digest_settings d WHERE d.user_id = u.id) LIMIT $4")
            .bind(defaults.enabled).bind(times).bind(defaults.only_new).bind(limit)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Enabled schedules whose next time is not worked out yet, with the user's time zone.
    pub async fn unscheduled_digests(&self, limit: i64) -> StoreResult<Vec<(DigestRow, String)>> {
        #[derive(sqlx::FromRow)]
        struct WithZone {
            #[sqlx(flatten)]
            row: Row,
            time_zone: String,
        }
        let sql = format!(
            "SELECT {DIGEST_COLUMNS}, u.time_zone FROM digest_settings d JOIN users u ON u.id = d.user_id \
             WHERE d.enabled AND d.next_at IS NULL LIMIT $1"
        );
        let rows: Vec<WithZone> = with_pool!(self, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (DigestRow::from(r.row), r.time_zone)).collect())
    }

    /// Sets the next times of many schedules at once.
    pub async fn set_digest_times(&self, next: &[(Uuid, Option<DateTime<Utc>>)]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (user, at) in next {
                sqlx::query("UPDATE digest_settings SET next_at = $1 WHERE user_id = $2")
                    .bind(*at).bind(*user).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Digests due at `now`, earliest first, at most `limit`.
    pub async fn due_digests(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<DueDigest>> {
        #[derive(sqlx::FromRow)]
        struct Due {
            #[sqlx(flatten)]
            user: UserRecord,
            #[sqlx(flatten)]
            row: Row,
        }
        let sql = format!(
            "SELECT {USER_COLUMNS}, {DIGEST_COLUMNS} FROM digest_settings d JOIN users u ON u.id = d.user_id \
             WHERE d.enabled AND NOT u.disabled AND d.next_at <= $1 ORDER BY d.next_at, d.user_id LIMIT $2"
        );
        let rows: Vec<Due> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|d| DueDigest { user: d.user, row: DigestRow::from(d.row) }).collect())
    }

    /// Records digests made: their mail goes into the outbox, the messages they list are
    /// marked listed, and each schedule moves on, in one transaction (a few statements per
    /// batch, not a few per digest).
    pub async fn record_digests(&self, made: &[DigestMade]) -> StoreResult<()> {
        const ROWS: usize = 100;
        let mails: Vec<&SystemMail> = made.iter().filter_map(|m| m.mail.as_ref()).collect();
        let listed: Vec<(&String, DateTime<Utc>)> =
            made.iter().flat_map(|m| m.listed.iter().map(move |id| (id, m.made_at))).collect();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in mails.chunks(ROWS) {
                let sql = format!(
                    "INSERT INTO system_mail (id, recipient, subject, body, html, created_at, status, next_attempt_at) \
                     VALUES {}",
                    values(chunk.len(), 6, |n| format!("(${}, ${}, ${}, ${}, ${}, ${}, 'pending', ${})",
                        n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 6))
                );
                let mut query = sqlx::query(&sql);
                for m in chunk {
                    query = query.bind(m.id).bind(&m.recipient).bind(&m.subject).bind(&m.body).bind(&m.html).bind(m.created_at);
                }
                query.execute(&mut *tx).await?;
            }
            mark_listed!(tx, listed);
            for chunk in made.chunks(ROWS) {
                let sql = format!(
                    "UPDATE digest_settings SET last_sent_at = v.column2, next_at = v.column3 FROM (VALUES {}) AS v \
                     WHERE digest_settings.user_id = v.column1",
                    values(chunk.len(), 3, |n| format!("(${}, ${}, ${})", n + 1, n + 2, n + 3))
                );
                let mut query = sqlx::query(&sql);
                for m in chunk {
                    query = query.bind(m.user_id).bind(m.made_at).bind(m.next_at);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Takes a user's resend slot when its last resend is older than `earlier_than` (or there
    /// was none); false means "too soon". The user's row is made if it has none.
    pub async fn take_resend_slot(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        earlier_than: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let defaults = DigestSchedule::default();
        let times = serde_json::to_string(&defaults.times).map_err(StoreError::internal)?;
        let n = with_pool!(self, pool => {
            sqlx::query("INSERT INTO digest_settings (user_id, enabled, times, only_new) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO NOTHING")
                .bind(user_id).bind(defaults.enabled).bind(&times).bind(defaults.only_new).execute(pool).await?;
            sqlx::query("UPDATE digest_settings SET last_resend_at = $1 WHERE user_id = $2 \
                 AND (last_resend_at IS NULL OR last_resend_at < $3)")
                .bind(now).bind(user_id).bind(earlier_than).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Puts a resent digest in the outbox and marks the messages it lists listed.
    pub async fn queue_digest(&self, mail: &SystemMail, listed: &[String]) -> StoreResult<()> {
        let at = super::now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_mail!(tx, mail);
            let pairs: Vec<(&String, DateTime<Utc>)> = listed.iter().map(|id| (id, at)).collect();
            mark_listed!(tx, pairs);
            tx.commit().await
        })?;
        Ok(())
    }
}
