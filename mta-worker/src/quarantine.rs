//! Quarantined copies on their way to the API: written to disk (fsynced) before the `250`,
//! shipped until the API has them (idempotent by id), then removed. Copies the API refuses
//! for good are kept aside under `refused/` for an operator, never dropped, and the refusal
//! is counted (`moat_mta_uploads_refused_total`), logged, and shown in message tracking as a
//! `failed` event. (The worker takes no message larger than the API accepts, so a size
//! limit is not a reason for a refusal.)

use std::path::PathBuf;
use std::time::Duration;

use moat_openapi::{EventDetail, EventKind, QuarantineUpload};
use tokio::sync::Notify;

use crate::api::ApiClient;
use crate::error::WorkerResult;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, event};
use crate::spool::write_atomically;

pub struct Uploads {
    dir: PathBuf,
    wake: Notify,
}

impl Uploads {
    pub fn open(dir: PathBuf) -> WorkerResult<Uploads> {
        std::fs::create_dir_all(dir.join("refused"))?;
        Ok(Uploads { dir, wake: Notify::new() })
    }

    /// Makes a quarantined copy durable.
    pub async fn store(&self, upload: &QuarantineUpload) -> WorkerResult<()> {
        let path = self.dir.join(format!("{}.json", upload.id));
        let bytes = serde_json::to_vec(upload)?;
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
                let Some(upload) =
                    std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<QuarantineUpload>(&b).ok())
                else {
                    continue;
                };
                match api.post_quarantine(&upload).await {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(err) if err.is_refusal() => {
                        let aside = self.dir.join("refused").join(path.file_name().unwrap_or_default());
                        let _ = std::fs::rename(&path, &aside);
                        metrics.uploads_refused.inc();
                        tracing::error!(%err, id = %upload.id, kept = %aside.display(), "the API refused a quarantined message");
                        let _ = outbox.record(vec![refused_event(&upload, &err.to_string())]).await;
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot hand quarantined messages to the API yet");
                        failed = true;
                        break;
                    }
                }
            }
            let wait = if failed { Duration::from_secs(2) } else { Duration::from_secs(1) };
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
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
