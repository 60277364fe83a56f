//! Retention: quarantined mail older than its organisation's `quarantine_retention_days`,
//! archived mail older than its `archive_retention_days` (rows and raw bytes), tracked
//! messages older than `MOAT_TRACKING_RETENTION_DAYS` and statistics older than their
//! keeping are purged, and finished days' top lists cut to their busiest keys, hourly, by the
//! replica holding the `retention` lease.

use std::time::Duration;

use crate::state::AppState;

const JOB: &str = "retention";
const EVERY: Duration = Duration::from_secs(3600);

/// Purges forever (while this replica holds the lease).
pub async fn run(state: AppState, holder: String) {
    loop {
        if super::lease(&state, JOB, &holder).await {
            let (held, tracked) = purge_once(&state).await;
            if held > 0 || tracked > 0 {
                tracing::info!(quarantined = held, tracked, "retention purge");
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One pass; answers how many quarantined (and archived) and tracked messages went.
pub async fn purge_once(state: &AppState) -> (usize, i64) {
    let now = crate::store::now();
    let held = match state.store.quarantine_retentions().await {
        Ok(orgs) => {
            purge_kind(state, "quarantine", orgs, now, |org, cutoff| state.store.purge_quarantine(org, cutoff)).await
        }
        Err(err) => {
            tracing::warn!(%err, "cannot read quarantine retentions");
            0
        }
    };
    let archived = match state.store.archive_retentions().await {
        Ok(orgs) => purge_kind(state, "archive", orgs, now, |org, cutoff| state.store.purge_archive(org, cutoff)).await,
        Err(err) => {
            tracing::warn!(%err, "cannot read archive retentions");
            0
        }
    };
    if archived > 0 {
        tracing::info!(archived, "archive retention purge");
    }
    let cutoff = now - chrono::Duration::days(state.config.tracking_retention_days.max(1));
    let mut tracked = 0;
    loop {
        match state.store.purge_tracking(cutoff).await {
            Ok(n) => {
                tracked += n;
                if n < crate::store::PURGE_BATCH {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(%err, "tracking purge failed");
                break;
            }
        }
    }
    match state.store.compact_stats(now).await {
        Ok(days) if days > 0 => tracing::info!(days, "statistics top lists cut"),
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "statistics compaction failed"),
    }
    // Counts of the days before yesterday fall in no window any more (yesterday's stay for a
    // node whose clock lags).
    if let Err(err) = state.store.purge_outbound_counts(now.timestamp().div_euclid(86_400) - 1).await {
        tracing::warn!(%err, "outbound count purge failed");
    }
    // Workers read the training feed within seconds; a month-old entry has long been learned.
    if let Err(err) = state.store.purge_feedback(now - chrono::Duration::days(FEEDBACK_DAYS)).await {
        tracing::warn!(%err, "training feed purge failed");
    }
    (held + archived, tracked)
}

/// Purges one kind of stored mail organisation by organisation, rows then raw bytes, in
/// batches; answers how many messages went.
async fn purge_kind<F, Fut>(
    state: &AppState,
    kind: &str,
    orgs: Vec<(uuid::Uuid, u32)>,
    now: chrono::DateTime<chrono::Utc>,
    purge: F,
) -> usize
where
    F: Fn(uuid::Uuid, chrono::DateTime<chrono::Utc>) -> Fut,
    Fut: std::future::Future<Output = crate::store::StoreResult<Vec<String>>>,
{
    let mut purged = 0;
    for (org, days) in orgs {
        let cutoff = now - chrono::Duration::days(i64::from(days));
        loop {
            let keys = match purge(org, cutoff).await {
                Ok(keys) => keys,
                Err(err) => {
                    tracing::warn!(%err, %org, kind, "purge failed");
                    break;
                }
            };
            for key in &keys {
                if let Err(err) = state.blobs.delete(key).await {
                    tracing::warn!(%err, %key, "cannot remove a purged message's raw bytes");
                }
            }
            purged += keys.len();
            if (keys.len() as i64) < crate::store::PURGE_BATCH {
                break;
            }
        }
    }
    purged
}

/// Days the training feed keeps an entry.
const FEEDBACK_DAYS: i64 = 30;
