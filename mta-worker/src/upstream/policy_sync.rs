//! Policy sync: the API's snapshot, fetched whole at start and after failures and then by
//! long-poll, persisted to disk so a worker restarted while the API is down still serves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use moat_openapi::PolicySnapshot;

use crate::common::backoff::Backoff;
use crate::common::files::write_atomically;
use crate::policy::{Policy, PolicyIndex};
use crate::upstream::client::ApiClient;

/// Keeps `policy` in step with the API: the persisted snapshot first (if any), then the
/// API's, then every change by long-poll. Never returns.
pub async fn sync(policy: Policy, api: ApiClient, path: PathBuf) {
    if let Some(snapshot) = load(&path) {
        tracing::info!(version = snapshot.version, "policy loaded from disk");
        policy.set(PolicyIndex::new(&snapshot));
    }
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    // The whole snapshot at start and after every failure: what is not versioned with the
    // policy (the API's limits, which change when the API restarts with new settings) is
    // current then too.
    let mut full = true;
    loop {
        let result = if full || !policy.get().loaded {
            api.policy().await.map(Some)
        } else {
            api.policy_changes(policy.get().version, 25).await
        };
        match result {
            Ok(Some(snapshot)) => {
                backoff.reset();
                full = false;
                tracing::info!(version = snapshot.version, domains = snapshot.domains.len(), "policy updated");
                save(&path, &snapshot);
                policy.set(PolicyIndex::new(&snapshot));
            }
            Ok(None) => backoff.reset(),
            Err(err) => {
                tracing::warn!(%err, "policy sync failed; serving the last snapshot");
                full = true;
                backoff.wait().await;
            }
        }
    }
}

fn load(path: &Path) -> Option<PolicySnapshot> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn save(path: &Path, snapshot: &PolicySnapshot) {
    match serde_json::to_vec(snapshot) {
        Ok(bytes) => {
            if let Err(err) = write_atomically(path, &bytes) {
                tracing::warn!(%err, "cannot persist the policy snapshot");
            }
        }
        Err(err) => tracing::warn!(%err, "cannot encode the policy snapshot"),
    }
}
