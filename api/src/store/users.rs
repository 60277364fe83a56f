//! Users, their single-use tokens (activation, password reset), the system mail outbox,
//! and the all-or-nothing bulk paths (CSV import, provisioning).

use chrono::{DateTime, Utc};
use moat_openapi::{Domain, Policy, Role, User, wire_name};
use uuid::Uuid;

use super::error::{OnUnique, StoreError, StoreResult};
use super::tenancy::{INSERT_ALLOWED_IP, INSERT_ORG, UPSERT_POLICY, bind_domain};
use super::{Paging, Scope, Store, now, with_pool};

/// A user as stored, including its password hash (never sent to clients).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: Uuid,
    pub msp_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub password_hash: Option<String>,
    pub time_zone: String,
    pub quarantine_delegate_id: Option<Uuid>,
    pub active: bool,
    /// Disabled by an admin: no sign-in, no digests, no emailed links (its mail still flows).
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRecord {
    pub fn to_wire(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            msp_id: self.msp_id,
            org_id: self.org_id,
            time_zone: self.time_zone.clone(),
            quarantine_delegate_id: self.quarantine_delegate_id,
            active: self.active,
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

/// A single-use emailed token, stored hashed.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: Uuid,
    pub purpose: &'static str,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// A message for the system outbox (activation, password reset, digests later), sent by
/// the system-mail job (`crate::jobs::system_mail`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SystemMail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    /// The text part.
    pub body: String,
    /// The HTML part (empty: text only).
    pub html: String,
    pub created_at: DateTime<Utc>,
}

/// A user to create, with the activation token and email it needs when it has no password.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub record: UserRecord,
    pub activation: Option<(NewToken, SystemMail)>,
}

/// Where listed users hang in the tenant tree.
#[derive(Debug, Clone, Copy)]
pub enum UserParent {
    Org(Uuid),
    Msp(Uuid),
}

/// What a provisioning call creates; the organisation exists already unless `create_org`.
#[derive(Debug, Clone)]
pub struct Provisioning {
    pub org_id: Uuid,
    pub create_org: Option<(Uuid, String)>,
    pub domains: Vec<Domain>,
    pub allowed_ips: Vec<String>,
    pub policy: Option<Policy>,
    /// With their CSV line numbers, for error messages.
    pub users: Vec<(u32, NewUser)>,
}

pub(super) const USER_COLUMNS: &str = "u.id, u.msp_id, u.org_id, u.email, u.display_name, u.role, u.password_hash, \
     u.time_zone, u.quarantine_delegate_id, u.active, u.disabled, u.created_at";
const USER_SCOPE: &str = "($1 IS NULL OR o.msp_id = $1 OR u.msp_id = $1) AND ($2 IS NULL OR u.org_id = $2) \
     AND ($3 IS NULL OR u.id = $3 OR u.quarantine_delegate_id = $3)";
const INSERT_USER: &str = "INSERT INTO users (id, msp_id, org_id, email, display_name, role, password_hash, \
     time_zone, quarantine_delegate_id, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const INSERT_TOKEN: &str = "INSERT INTO user_tokens (id, user_id, purpose, token_hash, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(super) const INSERT_MAIL: &str = "INSERT INTO system_mail (id, recipient, subject, body, html, created_at, status, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $6)";
pub const DUPLICATE_EMAIL: &str = "a user with this email already exists";

/// Inserts a [`NewUser`] (and its activation token and mail) on `$conn`.
macro_rules! insert_new_user {
    ($conn:expr, $new:expr) => {{
        let u = &$new.record;
        sqlx::query(INSERT_USER)
            .bind(u.id)
            .bind(u.msp_id)
            .bind(u.org_id)
            .bind(&u.email)
            .bind(&u.display_name)
            .bind(wire_name(&u.role))
            .bind(&u.password_hash)
            .bind(&u.time_zone)
            .bind(u.quarantine_delegate_id)
            .bind(u.active)
            .bind(u.created_at)
            .execute(&mut *$conn)
            .await
            .on_unique("email", DUPLICATE_EMAIL)?;
        if let Some((token, mail)) = &$new.activation {
            insert_token!($conn, token);
            insert_mail!($conn, mail);
        }
    }};
}

macro_rules! insert_token {
    ($conn:expr, $t:expr) => {
        sqlx::query(INSERT_TOKEN)
            .bind(Uuid::new_v4())
            .bind($t.user_id)
            .bind($t.purpose)
            .bind(&$t.token_hash)
            .bind($t.expires_at)
            .bind(now())
            .execute(&mut *$conn)
            .await?
    };
}

macro_rules! insert_mail {
    ($conn:expr, $m:expr) => {
        sqlx::query(super::users::INSERT_MAIL)
            .bind($m.id)
            .bind(&$m.recipient)
            .bind(&$m.subject)
            .bind(&$m.body)
            .bind(&$m.html)
            .bind($m.created_at)
            .execute(&mut *$conn)
            .await?
    };
}
pub(super) use insert_mail;

impl Store {
    pub async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_new_user!(tx, new);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Creates all users or none; an error names the CSV line that caused it.
    pub async fn import_users(&self, users: &[(u32, NewUser)]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (line, new) in users {
                let inserted: StoreResult<()> = async { insert_new_user!(tx, new); Ok(()) }.await;
                inserted.map_err(|e| e.at_line(*line))?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Creates (optionally) the organisation, then its domains, allowed IPs, policy and
    /// users, in one transaction.
    pub async fn provision(&self, p: &Provisioning) -> StoreResult<()> {
        let policy = p.policy.as_ref().map(serde_json::to_string).transpose().map_err(StoreError::internal)?;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some((msp_id, name)) = &p.create_org {
                sqlx::query(INSERT_ORG).bind(p.org_id).bind(msp_id).bind(name).bind(now())
                    .execute(&mut *tx).await.on_unique("name", "this MSP already has an organisation with this name")?;
            }
            for domain in &p.domains {
                bind_domain!(domain).execute(&mut *tx).await
                    .on_unique("domains", &format!("domain {} already exists", domain.name))?;
            }
            for cidr in &p.allowed_ips {
                sqlx::query(INSERT_ALLOWED_IP).bind(Uuid::new_v4()).bind(p.org_id).bind(cidr).bind(now())
                    .execute(&mut *tx).await.on_unique("allowed_ips", &format!("{cidr} is listed twice"))?;
            }
            if let Some(policy) = &policy {
                sqlx::query(UPSERT_POLICY).bind(p.org_id).bind(policy).bind(now()).execute(&mut *tx).await?;
            }
            for (line, new) in &p.users {
                let inserted: StoreResult<()> = async { insert_new_user!(tx, new); Ok(()) }.await;
                inserted.map_err(|e| e.at_line(*line))?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn list_users(&self, scope: Scope, parent: UserParent, paging: Paging) -> StoreResult<(Vec<User>, i64)> {
        let (parent_sql, parent_id) = match parent {
            UserParent::Org(id) => ("u.org_id = $4", id),
            UserParent::Msp(id) => ("u.msp_id = $4 AND u.org_id IS NULL", id),
        };
        let from = format!("FROM users u LEFT JOIN orgs o ON o.id = u.org_id WHERE {parent_sql} AND {USER_SCOPE}");
        let list = format!("SELECT {USER_COLUMNS} {from} ORDER BY u.email LIMIT $5 OFFSET $6");
        let count = format!("SELECT COUNT(*) {from}");
        let (m, o, u) = (scope.msp_filter(), scope.org_filter(), scope.user_filter());
        with_pool!(self, pool => {
            let rows: Vec<UserRecord> = sqlx::query_as(&list).bind(m).bind(o).bind(u).bind(parent_id)
                .bind(paging.limit()).bind(paging.offset()).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(m).bind(o).bind(u).bind(parent_id).fetch_one(pool).await?;
            Ok((rows.iter().map(UserRecord::to_wire).collect(), total))
        })
    }

    /// A user within `scope`, or `None` when it does not exist for this caller.
    pub async fn get_user(&self, scope: Scope, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN orgs o ON o.id = u.org_id WHERE u.id = $4 AND {USER_SCOPE}"
        );
        let row = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(scope.msp_filter()).bind(scope.org_filter()).bind(scope.user_filter()).bind(id)
            .fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Unscoped lookup, for authentication only.
    pub async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        self.get_user(Scope::Platform, id).await
    }

    /// Unscoped lookup by (lower-case) email, for login and password reset only.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1");
        let row = with_pool!(self, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Ids of the users who delegated their quarantine to `user_id`.
    pub async fn delegators_of(&self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let ids = with_pool!(self, pool => sqlx::query_scalar("SELECT id FROM users WHERE quarantine_delegate_id = $1 ORDER BY email")
            .bind(user_id).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// Writes the profile fields of `user` back (not the password).
    pub async fn update_user(&self, user: &UserRecord) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE users SET display_name = $1, role = $2, time_zone = $3, quarantine_delegate_id = $4, disabled = $5 WHERE id = $6")
            .bind(&user.display_name).bind(wire_name(&user.role)).bind(&user.time_zone).bind(user.quarantine_delegate_id)
            .bind(user.disabled).bind(user.id)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets a new password hash and marks the user active. Every link still outstanding for
    /// the user (activation, reset) is voided with it; access tokens issued before stop
    /// working because they carry a fingerprint of the old hash (see `auth::tokens`).
    pub async fn set_password(&self, user_id: Uuid, hash: &str) -> StoreResult<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1, active = $2 WHERE id = $3")
                .bind(hash).bind(true).bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE user_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
                .bind(at).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The user of an unexpired, unused token of `purpose`, without using it up.
    pub async fn token_user(&self, purpose: &str, token_hash: &str) -> StoreResult<Option<Uuid>> {
        let user = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
            .bind(token_hash).bind(purpose).bind(now()).fetch_optional(pool).await)?;
        Ok(user)
    }

    pub async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET quarantine_delegate_id = NULL WHERE quarantine_delegate_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn count_platform_admins(&self) -> StoreResult<i64> {
        let n = with_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
            .bind(wire_name(&Role::PlatformAdmin)).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Stores a token and the mail that carries it, together; earlier unused tokens of the
    /// same purpose for the user are voided (only the newest link works).
    pub async fn issue_token(&self, token: &NewToken, mail: &SystemMail) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE user_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
                .bind(now()).bind(token.user_id).bind(token.purpose).execute(&mut *tx).await?;
            insert_token!(tx, token);
            insert_mail!(tx, mail);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Uses up an unexpired token of `purpose`, answering its user; a token works once.
    pub async fn consume_token(&self, purpose: &str, token_hash: &str) -> StoreResult<Option<Uuid>> {
        let at = now();
        let user = with_pool!(self, pool => sqlx::query_scalar(
            "UPDATE user_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL \
             AND expires_at > $1 RETURNING user_id")
            .bind(at).bind(token_hash).bind(purpose).fetch_optional(pool).await)?;
        Ok(user)
    }

    /// The system mail to one address, newest first.
    pub async fn system_mail_to(&self, recipient: &str) -> StoreResult<Vec<SystemMail>> {
        let rows = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, recipient, subject, body, html, created_at FROM system_mail WHERE recipient = $1 \
             ORDER BY created_at DESC")
            .bind(recipient).fetch_all(pool).await)?;
        Ok(rows)
    }
}
