//! Quarantined copies on their way to the API: written to disk (fsynced) before the `250`,
//! shipped until the API has them (idempotent by id), then removed. Copies the API refuses
//! for good are kept aside under `refused/` for an operator, never dropped.

use std::path::PathBuf;
use std::time::Duration;

use moat_openapi::QuarantineUpload;
use tokio::sync::Notify;

use crate::api::ApiClient;
use crate::error::WorkerResult;
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
    pub async fn ship(&self, api: ApiClient) {
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
                    Ok(true) => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Ok(false) => {
                        let _ =
                            std::fs::rename(&path, self.dir.join("refused").join(path.file_name().unwrap_or_default()));
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
