//! The durable spool: every accepted message is one file, `queue/H/ID.msg` (H: the id's
//! last character, so concurrent writers do not all contend for one directory), holding a
//! header line with two lengths, the envelope (JSON) and the raw bytes. It is written to a
//! temporary name, fsynced, renamed and its folder fsynced before the `250` after DATA, so a
//! crash at any later point cannot lose the message. Delivery state that changes after an
//! attempt is written beside it (`env/ID.json`), which then takes precedence. One file per
//! message (it used to be two, plus an event file) is what file-system churn allows at
//! Postfix-like rates. The queue is rebuilt from these files at start-up.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::error::WorkerResult;
use crate::common::files::write_atomically;
use crate::verdict::routes::Route;

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
    pub direction: moat_openapi::Direction,
    pub size: usize,
    pub subject: String,
    pub message_id: String,
    pub routes: Vec<Route>,
}

impl QueuedMessage {
    pub fn is_done(&self) -> bool {
        self.routes.iter().all(Route::is_done)
    }

    /// A message this node makes itself (a bounce, a release): one recipient at `target`,
    /// due now, under a new id.
    pub fn generated(
        sender: &str,
        helo: &str,
        direction: moat_openapi::Direction,
        subject: &str,
        size: usize,
        (target, org_id): (crate::envelope::routing::Target, Option<uuid::Uuid>),
        recipient: &str,
    ) -> QueuedMessage {
        let id = new_id();
        let now = Utc::now();
        let route = Route {
            tracking_id: format!("{id}.1"),
            org_id,
            target,
            recipients: vec![crate::verdict::routes::RouteRcpt {
                address: recipient.to_string(),
                state: crate::verdict::routes::RcptState::Pending,
                response: None,
            }],
            failures: 0,
            next_attempt_at: now,
            last_error: None,
        };
        QueuedMessage {
            id,
            received_at: now,
            sender: sender.to_string(),
            client_ip: "127.0.0.1".into(),
            helo: helo.to_string(),
            direction,
            size,
            subject: subject.to_string(),
            message_id: String::new(),
            routes: vec![route],
        }
    }
}

impl QueuedMessage {
    /// The `received` and `verdict` events of one copy (route) of this message.
    pub fn arrival_events(
        &self,
        route: &Route,
        verdict: moat_openapi::Verdict,
        reasons: Vec<String>,
    ) -> [moat_openapi::MessageEvent; 2] {
        use crate::upstream::outbox::event;
        use moat_openapi::{EventDetail, EventKind};
        let received = EventDetail {
            direction: Some(self.direction),
            sender: Some(self.sender.clone()),
            recipients: route.recipients.iter().map(|r| r.address.clone()).collect(),
            subject: Some(self.subject.clone()),
            message_id: Some(self.message_id.clone()),
            size: Some(self.size as i64),
            client_ip: Some(self.client_ip.clone()),
            ..Default::default()
        };
        let judged = EventDetail { verdict: Some(verdict), reasons, ..Default::default() };
        [
            event(&route.tracking_id, EventKind::Received, route.org_id, received),
            event(&route.tracking_id, EventKind::Verdict, route.org_id, judged),
        ]
    }
}

/// A new spool id: time-ordered, unique.
pub fn new_id() -> String {
    format!("{}{}", Utc::now().format("%Y%m%d%H%M%S"), &Uuid::new_v4().simple().to_string()[..12]).to_uppercase()
}

/// Whether `id` has the shape [`new_id`] gives (so it can name a file and nothing else).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The first line of a spool file: `MOAT-SPOOL 1 <envelope bytes> <raw bytes>`.
const MAGIC: &str = "MOAT-SPOOL 1";

#[derive(Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// Where a spool file's envelope and raw message lie, from its first line.
struct Layout {
    envelope: std::ops::Range<usize>,
    raw: std::ops::Range<usize>,
}

impl Layout {
    /// `head`: at least the file's first line (which is at most 64 bytes).
    fn of(head: &[u8]) -> Option<Layout> {
        let end = head.iter().take(64).position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&head[..end]).ok()?;
        let mut lengths = header.strip_prefix(MAGIC)?.split_ascii_whitespace().map(|n| n.parse::<usize>().ok());
        let (env_len, raw_len) = (lengths.next()??, lengths.next()??);
        let envelope = end + 1..end + 1 + env_len;
        let raw = envelope.end + 1..envelope.end + 1 + raw_len;
        Some(Layout { envelope, raw })
    }

    /// A file of `len` bytes is whole (not torn by a crash while it was written, before the
    /// sender was answered).
    fn whole(&self, len: u64) -> bool {
        self.raw.end as u64 == len
    }
}

fn encode(envelope: &[u8], raw: &[u8]) -> Vec<u8> {
    let mut out = format!("{MAGIC} {} {}\n", envelope.len(), raw.len()).into_bytes();
    out.reserve(envelope.len() + raw.len() + 1);
    out.extend_from_slice(envelope);
    out.push(b'\n');
    out.extend_from_slice(raw);
    out
}

impl Spool {
    /// Opens (creating) the spool.
    pub fn open(dir: PathBuf) -> WorkerResult<Spool> {
        fs::create_dir_all(dir.join("queue"))?;
        fs::create_dir_all(dir.join("env"))?;
        Ok(Spool { dir })
    }

    /// At worker start-up only (nothing else writes then): removes what a crash left half
    /// written, none of which was ever acknowledged to its sender.
    pub fn recover(&self) -> WorkerResult<()> {
        for path in self.message_files()? {
            if !complete(&path) {
                tracing::warn!(path = %path.display(), "removing a message that was never acknowledged");
                let _ = fs::remove_file(&path);
            }
        }
        for dir in self.queue_dirs()? {
            for entry in fs::read_dir(dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "tmp") {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    fn queue_dirs(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for entry in fs::read_dir(self.dir.join("queue"))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
        Ok(dirs)
    }

    fn message_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for dir in self.queue_dirs()? {
            for entry in fs::read_dir(dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "msg") {
                    files.push(path);
                }
            }
        }
        Ok(files)
    }

    fn file_path(&self, id: &str) -> PathBuf {
        let bucket = id.chars().last().filter(char::is_ascii_alphanumeric).unwrap_or('_');
        self.dir.join("queue").join(bucket.to_string()).join(format!("{id}.msg"))
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.dir.join("env").join(format!("{id}.json"))
    }

    /// Makes the message durable: envelope and raw bytes in one file.
    pub async fn store(&self, msg: &QueuedMessage, raw: Vec<u8>) -> WorkerResult<()> {
        let bytes = encode(&serde_json::to_vec(msg)?, &raw);
        let path = self.file_path(&msg.id);
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await.map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Rewrites the envelope now, on the calling thread (for the `queue` commands).
    pub fn update_blocking(&self, msg: &QueuedMessage) -> WorkerResult<()> {
        write_atomically(&self.env_path(&msg.id), &serde_json::to_vec(msg)?)?;
        Ok(())
    }

    /// Records the delivery state of a queued message.
    pub async fn update(&self, msg: &QueuedMessage) -> WorkerResult<()> {
        let (path, env) = (self.env_path(&msg.id), serde_json::to_vec(msg)?);
        tokio::task::spawn_blocking(move || write_atomically(&path, &env)).await.map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Removes a message (delivered, bounced or removed by an operator).
    pub fn remove(&self, id: &str) -> std::io::Result<bool> {
        if !is_valid_id(id) {
            return Ok(false);
        }
        let existed = fs::remove_file(self.file_path(id)).is_ok();
        let _ = fs::remove_file(self.env_path(id));
        Ok(existed)
    }

    /// A message's envelope (its latest recorded state) and raw bytes, from one read of its
    /// file; `None` when it is not queued.
    pub async fn load(&self, id: &str) -> Option<(QueuedMessage, std::io::Result<Vec<u8>>)> {
        let this = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || this.load_blocking(&id)).await.ok().flatten()
    }

    fn load_blocking(&self, id: &str) -> Option<(QueuedMessage, std::io::Result<Vec<u8>>)> {
        let later_state = fs::read(self.env_path(id)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let bytes = fs::read(self.file_path(id)).ok()?;
        let (stored, raw) = Self::parse(&bytes)?;
        Some((later_state.unwrap_or(stored), Ok(raw.to_vec())))
    }

    /// Gives the stored file of message `id` a second name at `path` (a hard link: no copy
    /// of the bytes, and removing the spool's name later leaves this one whole), copying it
    /// where the two folders are on different file systems.
    pub fn link_to(&self, id: &str, path: &Path) -> std::io::Result<()> {
        let from = self.file_path(id);
        match fs::hard_link(&from, path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) => fs::copy(&from, path).map(|_| ()),
        }
    }

    /// The envelope and raw bytes of a whole spool file's contents.
    pub fn parse(bytes: &[u8]) -> Option<(QueuedMessage, &[u8])> {
        let layout = Layout::of(bytes).filter(|l| l.whole(bytes.len() as u64))?;
        let msg = serde_json::from_slice(&bytes[layout.envelope]).ok()?;
        Some((msg, &bytes[layout.raw]))
    }

    /// The raw bytes alone (tests).
    #[cfg(test)]
    pub async fn read_raw(&self, id: &str) -> WorkerResult<Vec<u8>> {
        match self.load(id).await {
            Some((_, raw)) => Ok(raw?),
            None => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such queued message").into()),
        }
    }

    /// The envelope of one message: its latest recorded state, else the one it was stored with.
    pub fn read(&self, id: &str) -> Option<QueuedMessage> {
        if let Ok(bytes) = fs::read(self.env_path(id)) {
            return serde_json::from_slice(&bytes).ok();
        }
        Self::stored_envelope(&self.file_path(id))
    }

    fn stored_envelope(path: &Path) -> Option<QueuedMessage> {
        // The header and envelope come first: read only as far as needed.
        let mut file = File::open(path).ok()?;
        let mut head = vec![0u8; 8192];
        let n = read_up_to(&mut file, &mut head).ok()?;
        head.truncate(n);
        let layout = Layout::of(&head)?;
        if head.len() < layout.envelope.end {
            let mut rest = vec![0u8; layout.envelope.end - head.len()];
            std::io::Read::read_exact(&mut file, &mut rest).ok()?;
            head.extend_from_slice(&rest);
        }
        serde_json::from_slice(&head[layout.envelope]).ok()
    }

    /// Every queued message, oldest first.
    pub fn list(&self) -> WorkerResult<Vec<QueuedMessage>> {
        let mut out: Vec<QueuedMessage> = Vec::new();
        for path in self.message_files()? {
            let Some(id) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            // A file still being written has no complete envelope yet: not queued.
            if let Some(msg) = self.read(id) {
                out.push(msg);
            }
        }
        out.sort_by(|a: &QueuedMessage, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// Whether a spool file is whole: as long as its header says (checked without reading it all).
fn complete(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else { return false };
    let mut head = [0u8; 64];
    let Ok(n) = read_up_to(&mut file, &mut head) else { return false };
    Layout::of(&head[..n]).is_some_and(|l| file.metadata().is_ok_and(|m| l.whole(m.len())))
}

/// Reads until `buf` is full or the file ends; answers the bytes read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match std::io::Read::read(file, &mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::routing::Target;
    use crate::scratch::ScratchDir;
    use crate::verdict::routes::{RcptState, RouteRcpt};

    fn message(id: &str) -> QueuedMessage {
        QueuedMessage {
            id: id.to_string(),
            received_at: Utc::now(),
            sender: "a@b.test".into(),
            client_ip: "127.0.0.1".into(),
            helo: "b.test".into(),
            direction: moat_openapi::Direction::Inbound,
            size: 5,
            subject: "s".into(),
            message_id: String::new(),
            routes: vec![Route {
                tracking_id: format!("{id}.1"),
                org_id: None,
                target: Target::Mx { domain: "c.test".into() },
                recipients: vec![RouteRcpt { address: "x@c.test".into(), state: RcptState::Pending, response: None }],
                failures: 0,
                next_attempt_at: Utc::now(),
                last_error: None,
            }],
        }
    }

    #[tokio::test]
    async fn a_stored_message_reads_back_whole_and_its_later_state_wins() {
        let dir = ScratchDir::new();
        let spool = Spool::open(dir.path().to_path_buf()).unwrap();
        let mut msg = message("20260101000000ABCDEF123456");
        let raw = b"Subject: s\r\n\r\nbody with\nMOAT-SPOOL 1 9 9\n inside\r\n".to_vec();
        spool.store(&msg, raw.clone()).await.unwrap();
        assert_eq!(spool.read(&msg.id), Some(msg.clone()));
        assert_eq!(spool.read_raw(&msg.id).await.unwrap(), raw);
        assert_eq!(spool.list().unwrap(), vec![msg.clone()]);

        msg.routes[0].failures = 3;
        spool.update(&msg).await.unwrap();
        assert_eq!(spool.read(&msg.id).unwrap().routes[0].failures, 3);
        assert_eq!(spool.list().unwrap()[0].routes[0].failures, 3);
        assert_eq!(spool.read_raw(&msg.id).await.unwrap(), raw);

        assert!(spool.remove(&msg.id).unwrap());
        assert!(spool.list().unwrap().is_empty());
        assert!(!spool.remove(&msg.id).unwrap());
    }

    #[tokio::test]
    async fn recovery_drops_torn_files_and_keeps_whole_ones() {
        let dir = ScratchDir::new();
        let spool = Spool::open(dir.path().to_path_buf()).unwrap();
        let kept = message("20260101000000AAAAAAAAAAA1");
        spool.store(&kept, b"x\r\n".to_vec()).await.unwrap();
        let torn = spool.file_path("20260101000000AAAAAAAAAAA2");
        let mut bytes = encode(&serde_json::to_vec(&message("20260101000000AAAAAAAAAAA2")).unwrap(), b"abc");
        bytes.pop();
        write_atomically(&torn, &bytes).unwrap();

        spool.recover().unwrap();
        assert!(!torn.exists());
        let ids: Vec<String> = spool.list().unwrap().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, [kept.id.as_str()]);
        assert_eq!(spool.read_raw(&kept.id).await.unwrap(), b"x\r\n");
    }
}
