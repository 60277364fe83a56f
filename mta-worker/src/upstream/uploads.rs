//! Quarantined copies on their way to the API: written to disk (fsynced) before the `250`,
//! one file per held copy whatever its number of recipients (the raw message is encoded
//! and written once), shipped per recipient until the API has them all (idempotent by
//! id), then removed. Copies the API refuses
//! for good are kept aside under `refused/` for an operator, never dropped, and the refusal
//! is counted (`moat_mta_uploads_refused_total`), logged, and shown in message tracking as a
//! `failed` event. (The worker takes no message larger than the API accepts, so a size
//! limit is not a reason for a refusal.)

use std::path::PathBuf;
use std::time::Duration;

use moat_openapi::{EventDetail, EventKind, QuarantineUpload};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::common::error::WorkerResult;
use crate::common::files::write_atomically;
use crate::common::metrics::Metrics;
use crate::upstream::client::ApiClient;
use crate::upstream::outbox::{Outbox, event};

/// One held copy on disk: the upload of its first recipient, and the others' own fields.
/// (A file holding a bare upload reads as a copy for that one recipient.)
#[derive(Serialize, Deserialize)]
pub struct HeldCopy {
    #[serde(flatten)]
    pub upload: QuarantineUpload,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<HeldRecipient>,
}

/// A further recipient of a held copy: what differs from the first one's upload.
#[derive(Serialize, Deserialize, Clone)]
pub struct HeldRecipient {
    pub id: String,
    pub recipient: String,
    pub user_id: Option<Uuid>,
}

impl HeldCopy {
    /// The copy's uploads, one per recipient, as (id, recipient, user) to put into the one
    /// upload in turn (so the raw message is never copied per recipient).
    fn recipients(&self) -> Vec<HeldRecipient> {
        let first = HeldRecipient {
            id: self.upload.id.clone(),
            recipient: self.upload.recipient.clone(),
            user_id: self.upload.user_id,
        };
        std::iter::once(first).chain(self.others.iter().cloned()).collect()
    }
}

pub struct Uploads {
    dir: PathBuf,
    wake: Notify,
}

impl Uploads {
    pub fn open(dir: PathBuf) -> WorkerResult<Uploads> {
        std::fs::create_dir_all(dir.join("refused"))?;
        Ok(Uploads { dir, wake: Notify::new() })
    }

    /// Makes a quarantined copy durable, for all its recipients.
    pub async fn store(&self, copy: &HeldCopy) -> WorkerResult<()> {
        let path = self.dir.join(format!("{}.json", copy.upload.id));
        let bytes = serde_json::to_vec(copy)?;
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await.map_err(std::io::Error::other)??;
        self.wake.notify_one();
        Ok(())
    }

    /// Ships copies to the API forever.
    pub async fn ship(&self, api: ApiClient, outbox: Outbox, metrics: std::sync::Arc<Metrics>) {
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "json"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            let mut failed = false;
            for path in files {
                let Some(copy) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<HeldCopy>(&b).ok())
                else {
                    continue;
                };
                if !self.ship_copy(&api, &outbox, &metrics, copy).await {
                    failed = true;
                    break;
                }
                let _ = std::fs::remove_file(&path);
            }
            let wait = if failed { Duration::from_secs(2) } else { Duration::from_secs(1) };
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }
}

impl Uploads {
    /// Hands every recipient's upload of one copy to the API; a refused one is kept aside
    /// under `refused/` on its own. False when the API cannot be reached (try again later).
    async fn ship_copy(&self, api: &ApiClient, outbox: &Outbox, metrics: &Metrics, copy: HeldCopy) -> bool {
        let recipients = copy.recipients();
        let mut upload = copy.upload;
        for held in recipients {
            (upload.id, upload.recipient, upload.user_id) = (held.id, held.recipient, held.user_id);
            match api.post_quarantine(&upload).await {
                Ok(()) => {}
                Err(err) if err.is_refusal() => {
                    let aside = self.dir.join("refused").join(format!("{}.json", upload.id));
                    let kept = serde_json::to_vec(&upload)
                        .map_err(std::io::Error::other)
                        .and_then(|b| write_atomically(&aside, &b));
                    if let Err(write) = kept {
                        tracing::error!(%write, "cannot keep a refused quarantined copy aside");
                        return false;
                    }
                    metrics.uploads_refused.inc();
                    tracing::error!(%err, id = %upload.id, kept = %aside.display(), "the API refused a quarantined message");
                    let _ = outbox.record(vec![refused_event(&upload, &err.to_string())]).await;
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot hand quarantined messages to the API yet");
                    return false;
                }
            }
        }
        true
    }
}

/// The tracking event of a copy the API refused: its message shows `failed` with the answer.
fn refused_event(upload: &QuarantineUpload, answer: &str) -> moat_openapi::MessageEvent {
    // Upload ids are `<tracking id>-<n>`.
    let tracking_id = upload.id.rsplit_once('-').map(|(t, _)| t).unwrap_or(&upload.id);
    let detail = EventDetail {
        recipients: vec![upload.recipient.clone()],
        response: Some(format!("quarantined copy refused by the API, kept on the worker: {answer}")),
        ..Default::default()
    };
    event(tracking_id, EventKind::Failed, Some(upload.org_id), detail)
}
