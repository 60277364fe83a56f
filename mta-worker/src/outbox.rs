//! The event outbox: message events are written to disk (fsynced) when they happen and
//! shipped to the API in batches until it accepts them. The API ignores event ids it has
//! seen, so a batch retried after a lost answer is never counted twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use moat_openapi::{EventBatch, EventDetail, EventKind, MessageEvent};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::api::ApiClient;
use crate::error::WorkerResult;
use crate::spool::write_atomically;

/// Events per POST.
const BATCH: usize = 500;

#[derive(Clone)]
pub struct Outbox {
    dir: PathBuf,
    seq: Arc<AtomicU64>,
    wake: Arc<Notify>,
}

pub fn event(tracking_id: &str, kind: EventKind, org_id: Option<Uuid>, detail: EventDetail) -> MessageEvent {
    MessageEvent { id: Uuid::new_v4(), tracking_id: tracking_id.to_string(), kind, at: Utc::now(), org_id, detail }
}

impl Outbox {
    pub fn open(dir: PathBuf) -> WorkerResult<Outbox> {
        std::fs::create_dir_all(&dir)?;
        Ok(Outbox { dir, seq: Arc::new(AtomicU64::new(0)), wake: Arc::new(Notify::new()) })
    }

    /// Stores events durably, in order, for shipping.
    pub async fn record(&self, events: Vec<MessageEvent>) {
        if events.is_empty() {
            return;
        }
        let name = format!(
            "{:020}-{:010}.json",
            Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(name);
        let result = match serde_json::to_vec(&events) {
            Ok(bytes) => tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(e) => Err(std::io::Error::other(e)),
        };
        if let Err(err) = result {
            tracing::error!(%err, "cannot write events to the outbox");
        }
        self.wake.notify_one();
    }

    /// Files waiting, oldest first.
    fn pending(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Ships events to the API forever.
    pub async fn ship(self, api: ApiClient) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let files = self.pending();
            if files.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                continue;
            }
            let mut events = Vec::new();
            let mut taken = Vec::new();
            for path in files {
                match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Vec<MessageEvent>>(&b).ok()) {
                    Some(mut batch) => {
                        events.append(&mut batch);
                        taken.push(path);
                    }
                    None => {
                        tracing::error!(path = %path.display(), "dropping an unreadable outbox file");
                        let _ = std::fs::remove_file(&path);
                    }
                }
                if events.len() >= BATCH {
                    break;
                }
            }
            match api.post_events(&EventBatch { events }).await {
                Ok(ack) => {
                    tracing::debug!(accepted = ack.accepted, duplicates = ack.duplicates, "events shipped");
                    for path in taken {
                        let _ = std::fs::remove_file(path);
                    }
                    backoff = Duration::from_millis(200);
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot ship events; will retry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
