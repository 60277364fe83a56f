//! The durable spool: every accepted message is two files, the raw bytes (`msg/ID.eml`)
//! and its envelope with delivery state (`env/ID.json`). Both are written to a temporary
//! name, fsynced, renamed and the folder fsynced before the `250` after DATA, so a crash at
//! any later point cannot lose the message. The queue is rebuilt from `env/` at start-up.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::WorkerResult;

/// Where a message goes: a customer's own server (inbound), or the MX of a foreign domain
/// (outbound and bounces).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A customer domain; its destination is looked up again at each attempt, with these
    /// values as the fallback.
    Customer { domain: String, host: String, port: u16, tls: moat_openapi::TlsMode },
    /// Any other domain, delivered to its MX hosts.
    Mx { domain: String },
}

impl Target {
    pub fn key(&self) -> String {
        match self {
            Target::Customer { domain, .. } => format!("customer:{domain}"),
            Target::Mx { domain } => format!("mx:{domain}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RcptState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteRcpt {
    pub address: String,
    pub state: RcptState,
    pub response: Option<String>,
}

/// The recipients of one message that share a destination, with their retry state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub tracking_id: String,
    pub org_id: Option<Uuid>,
    pub target: Target,
    pub recipients: Vec<RouteRcpt>,
    pub failures: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl Route {
    pub fn pending(&self) -> impl Iterator<Item = &RouteRcpt> {
        self.recipients.iter().filter(|r| r.state == RcptState::Pending)
    }

    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }
}

/// A spooled message's envelope and state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueuedMessage {
    pub id: String,
    pub received_at: DateTime<Utc>,
    /// Envelope sender; empty for the null sender (bounces).
    pub sender: String,
    pub client_ip: String,
    pub helo: String,
    /// `inbound`, `outbound` or `bounce`.
    pub direction: String,
    pub size: usize,
    pub subject: String,
    pub message_id: String,
    pub routes: Vec<Route>,
}

impl QueuedMessage {
    pub fn is_done(&self) -> bool {
        self.routes.iter().all(Route::is_done)
    }
}

/// A new spool id: time-ordered, unique.
pub fn new_id() -> String {
    format!("{}{}", Utc::now().format("%Y%m%d%H%M%S"), &Uuid::new_v4().simple().to_string()[..12]).to_uppercase()
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole new one, and the
/// new one survives a crash once this returns.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", Uuid::new_v4().simple()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[derive(Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens (creating) the spool and removes raw files whose envelope was never written
    /// (their sender never got a `250`).
    pub fn open(dir: PathBuf) -> WorkerResult<Spool> {
        fs::create_dir_all(dir.join("msg"))?;
        fs::create_dir_all(dir.join("env"))?;
        let spool = Spool { dir };
        for entry in fs::read_dir(spool.dir.join("msg"))? {
            let path = entry?.path();
            let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if path.extension().is_some_and(|e| e == "eml") && !spool.env_path(&id).exists() {
                tracing::warn!(%id, "removing a message that was never acknowledged");
                let _ = fs::remove_file(&path);
            }
        }
        Ok(spool)
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.dir.join("msg").join(format!("{id}.eml"))
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.dir.join("env").join(format!("{id}.json"))
    }

    /// Makes the message durable: raw bytes first, then the envelope that makes it queued.
    pub async fn store(&self, msg: &QueuedMessage, raw: Vec<u8>) -> WorkerResult<()> {
        let (this, env) = (self.clone(), serde_json::to_vec(msg)?);
        let id = msg.id.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            write_atomically(&this.msg_path(&id), &raw)?;
            write_atomically(&this.env_path(&id), &env)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Rewrites the envelope now, on the calling thread (for the `queue` commands).
    pub fn update_blocking(&self, msg: &QueuedMessage) -> WorkerResult<()> {
        write_atomically(&self.env_path(&msg.id), &serde_json::to_vec(msg)?)?;
        Ok(())
    }

    /// Rewrites the envelope (delivery state) of a queued message.
    pub async fn update(&self, msg: &QueuedMessage) -> WorkerResult<()> {
        let (path, env) = (self.env_path(&msg.id), serde_json::to_vec(msg)?);
        tokio::task::spawn_blocking(move || write_atomically(&path, &env)).await.map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Removes a message (delivered, bounced or removed by an operator).
    pub fn remove(&self, id: &str) -> std::io::Result<bool> {
        let existed = fs::remove_file(self.env_path(id)).is_ok();
        let _ = fs::remove_file(self.msg_path(id));
        Ok(existed)
    }

    pub async fn read_raw(&self, id: &str) -> WorkerResult<Vec<u8>> {
        Ok(tokio::fs::read(self.msg_path(id)).await?)
    }

    pub fn read(&self, id: &str) -> Option<QueuedMessage> {
        serde_json::from_slice(&fs::read(self.env_path(id)).ok()?).ok()
    }

    /// Every queued message, oldest first.
    pub fn list(&self) -> WorkerResult<Vec<QueuedMessage>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.dir.join("env"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match fs::read(&path)
                    .map_err(crate::error::WorkerError::from)
                    .and_then(|b| Ok(serde_json::from_slice(&b)?))
                {
                    Ok(msg) => out.push(msg),
                    Err(err) => tracing::error!(path = %path.display(), %err, "unreadable queue entry"),
                }
            }
        }
        out.sort_by(|a: &QueuedMessage, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
