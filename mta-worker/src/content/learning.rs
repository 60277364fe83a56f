//! Learning from users: the API's training feed (messages released or reported as not
//! spam are ham, those reported as spam are spam) trains each organisation's own model file
//! in `models_dir`, which the scanner reloads at once. Only the organisation's model learns:
//! one tenant's reports never move another tenant's filtering (the global model is the
//! platform's, trained with `moat-mta learn`). Each node keeps its own models and its place
//! in the feed (`training.cursor` in its data folder).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::MessageParser;
use moat_openapi::TrainingItem;
use uuid::Uuid;

use crate::common::error::{AtPath, WorkerResult};
use crate::common::files;
use crate::content::scan::Scanner;
use crate::content::scan::bayes::Model;
use crate::content::scan::tokens::{Bodies, Tokens};
use crate::upstream::client::ApiClient;

/// Where the learner keeps its models and its place in the feed.
#[derive(Clone)]
pub struct Learner {
    pub api: ApiClient,
    pub scanner: Scanner,
    pub models_dir: PathBuf,
    pub cursor: PathBuf,
}

impl Learner {
    /// Learns forever: a batch as soon as there is one, otherwise every `every`.
    pub async fn run(self, every: Duration) {
        loop {
            match self.learn_once().await {
                Ok(0) => tokio::time::sleep(every).await,
                Ok(n) => tracing::info!(messages = n, "spam models learned from user feedback"),
                Err(err) => {
                    tracing::warn!(%err, "cannot read the training feed yet");
                    tokio::time::sleep(every).await;
                }
            }
        }
    }

    /// Reads one batch of the feed, trains the models and reloads them. Answers how many
    /// entries were read.
    pub async fn learn_once(&self) -> WorkerResult<usize> {
        let after = std::fs::read_to_string(&self.cursor).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0i64);
        let batch = self.api.training(after).await?;
        if batch.next <= after {
            return Ok(0);
        }
        let dir = self.models_dir.clone();
        let items = batch.items;
        let read = items.len().max(1);
        // Models first, then the cursor: a crash in between learns a batch twice, never skips one.
        tokio::task::spawn_blocking(move || train(&dir, &items)).await.map_err(std::io::Error::other)??;
        files::write_atomically(&self.cursor, batch.next.to_string().as_bytes()).at("cannot write", &self.cursor)?;
        let scanner = self.scanner.clone();
        let _ = tokio::task::spawn_blocking(move || scanner.reload()).await;
        Ok(read)
    }
}

/// Trains each organisation's model file in `dir` with its items.
fn train(dir: &Path, items: &[TrainingItem]) -> WorkerResult<()> {
    let mut by_org: HashMap<Uuid, Vec<&TrainingItem>> = HashMap::new();
    for item in items {
        by_org.entry(item.org_id).or_default().push(item);
    }
    std::fs::create_dir_all(dir).at("cannot create", dir)?;
    for (org, items) in by_org {
        let path = dir.join(format!("{org}.model"));
        let mut model = if path.exists() { Model::load(&path).at("cannot load", &path)? } else { Model::default() };
        for item in items {
            let Ok(raw) = STANDARD.decode(item.raw_base64.as_bytes()) else { continue };
            let Some(message) = MessageParser::default().parse(&raw) else { continue };
            let bodies = Bodies::of(&message);
            model.learn(&Tokens::from_message(&message, &bodies), item.spam);
        }
        model.save(&path).at("cannot write", &path)?;
    }
    Ok(())
}
