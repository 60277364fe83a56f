//! Storage layer: the rest of the API calls `Store` methods and never sees which backend
//! answers.
//!
//! Design (see STYLE.md): one SQL text per query, written in the subset both SQLite and
//! PostgreSQL accept (`$1` placeholders, `COALESCE`, `LIMIT … OFFSET`), and bound with
//! native types (UUID, `timestamptz` on Postgres; blob and text on SQLite). The backend is
//! picked from the URL scheme at start-up. Each method body is compiled once per backend by
//! [`with_pool!`], so both stay type-checked without a trait object per query or the
//! lowest-common-denominator types of `sqlx::Any`. Tenant scoping is done in SQL by
//! [`Scope`] filters, so a row outside the caller's reach is simply not found.

mod alerts;
mod archive;
mod audit;
mod correspondents;
mod credentials;
mod diagnostics;
mod digests;
pub mod error;
mod features;
mod jobs;
mod lists;
mod outbound_counts;
pub(crate) mod quarantine;
mod reputation;
mod retention;
pub(crate) mod search;
pub mod stats;
mod system_mail;
mod tenancy;
mod training;
mod users;
mod worker;

pub use archive::{Archived, Filing, NewArchived};
pub use audit::MAX_AUDIT_EXPORT;
pub use credentials::*;
pub use diagnostics::MAX_PENDING_TESTS;
pub use digests::{DigestMade, DigestRow, DueDigest};
pub use error::{StoreError, StoreResult};
pub use jobs::{LeasedJob, MAX_JOB_ATTEMPTS};
pub use outbound_counts::PUSH_MAX as OUTBOUND_COUNTS_PUSH_MAX;
pub use retention::PURGE_BATCH;
pub use tenancy::*;
pub use training::Feedback;
pub use users::*;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use uuid::Uuid;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Clone)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database handle: a pool of whichever backend the URL named.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// Runs `$body` with `$pool` bound to the concrete pool (or transaction source) of the
/// backend; the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// What part of the tenant tree a query may touch; `None` filters mean "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Platform,
    Msp(Uuid),
    Org(Uuid),
    /// A plain user: itself and the users who delegated their quarantine to it.
    User {
        org_id: Uuid,
        user_id: Uuid,
    },
}

impl Store {
    /// Whether this store runs on SQLite (for the few queries that differ by backend).
    pub fn is_sqlite(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }
}

impl Scope {
    pub fn msp_filter(&self) -> Option<Uuid> {
        match self {
            Scope::Msp(id) => Some(*id),
            _ => None,
        }
    }

    pub fn org_filter(&self) -> Option<Uuid> {
        match self {
            Scope::Org(id) | Scope::User { org_id: id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn user_filter(&self) -> Option<Uuid> {
        match self {
            Scope::User { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }
}

/// A page request turned into SQL `LIMIT`/`OFFSET`.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub const MAX_PER_PAGE: u32 = 500;

    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Paging {
        Paging { page: page.unwrap_or(1).max(1), per_page: per_page.unwrap_or(50).clamp(1, Self::MAX_PER_PAGE) }
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

impl Store {
    /// Connects to the URL's backend and runs its migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("invalid sqlite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Searches over large tables: read through a memory map and keep a 64 MiB page
                // cache per connection instead of copying pages in with a syscall each time.
                .pragma("mmap_size", "1073741824")
                .pragma("cache_size", "-65536");
            if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create database folder {}", parent.display()))?;
            }
            let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
            SQLITE_MIGRATIONS.run(&pool).await.context("sqlite migrations failed")?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // Tenants differ by orders of magnitude (one user's mailbox holds ten thousand
            // messages, most hold a hundred): a plan made once for "any user" (PostgreSQL's
            // generic plan after five runs of a statement) walks a large mailbox the wrong
            // way. Each statement is planned for its own values instead.
            let options = PgConnectOptions::from_str(url)
                .context("invalid postgres URL")?
                .options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("cannot connect to postgres")?;
            POSTGRES_MIGRATIONS.run(&pool).await.context("postgres migrations failed")?;
            Backend::Postgres(pool)
        } else {
            bail!("unsupported database URL: it must start with sqlite: or postgres://");
        };
        Ok(Store { backend })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    // Stored at microsecond precision on both backends, so round-trips compare equal.
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
