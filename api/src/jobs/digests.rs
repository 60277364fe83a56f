//! Scheduled digests: every few seconds (while this replica holds the lease) new users get
//! the default schedule, and every digest whose local time has come is made and put in the
//! system-mail outbox; a user with nothing held gets no mail, and its schedule moves on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moat_openapi::Policy;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::digests::mail::{self, DigestEntry, MAX_DIGEST_ITEMS};
use crate::digests::schedule;
use crate::state::AppState;
use crate::store::{DigestMade, DueDigest, StoreResult, SystemMail, UserRecord};

/// The lease name of this job.
const JOB: &str = "digests";
/// How often due digests are looked for.
const EVERY: Duration = Duration::from_secs(5);
/// Users per database round.
const BATCH: i64 = 500;
/// Rounds per pass at most (a pass covers 500,000 users; the next pass does the rest).
const MAX_ROUNDS: usize = 1000;
/// Digests made at once (each holds a database connection for its query).
const CONCURRENCY: usize = 6;

/// Makes due digests forever (while this replica holds the lease).
pub async fn run(state: AppState, holder: String) {
    loop {
        if super::lease(&state, JOB, &holder).await
            && let Err(err) = pass(&state, state.config.schedule_now()).await
        {
            tracing::warn!(%err, "digest pass failed");
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One pass as of `now`: schedules users seen for the first time (or whose time zone
/// changed) and makes every digest due. Answers how many digests went to the outbox.
pub async fn pass(state: &AppState, now: DateTime<Utc>) -> StoreResult<usize> {
    schedule_unscheduled(state, now).await?;
    let mut policies = Policies::default();
    let mut queued = 0;
    for _ in 0..MAX_ROUNDS {
        let due = state.store.due_digests(now, BATCH).await?;
        let made = make_batch(state, &mut policies, &due, now).await?;
        queued += made.iter().filter(|m| m.mail.is_some()).count();
        state.store.record_digests(&made).await?;
        if (due.len() as i64) < BATCH {
            break;
        }
    }
    if queued > 0 {
        tracing::info!(digests = queued, "digests queued");
    }
    Ok(queued)
}

/// Makes the digests of one batch, several at a time (each is a query and some text).
async fn make_batch(
    state: &AppState,
    policies: &mut Policies,
    due: &[DueDigest],
    now: DateTime<Utc>,
) -> StoreResult<Vec<DigestMade>> {
    for org in due.iter().filter_map(|d| d.user.org_id) {
        policies.of(state, org).await?;
    }
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for digest in due.iter().cloned() {
        let (state, limit) = (state.clone(), limit.clone());
        let policy = digest.user.org_id.and_then(|org| policies.0.get(&org).cloned()).unwrap_or_default();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let composed = compose(&state, &policy, &digest.user, digest.row.schedule.only_new).await?;
            let (mail, listed) = composed.map(|c| (Some(c.mail), c.listed)).unwrap_or_default();
            let next_at = schedule::next_for(now, &digest.user.time_zone, &digest.row.schedule.times);
            Ok::<_, crate::store::StoreError>(DigestMade {
                user_id: digest.user.id,
                mail,
                listed,
                made_at: now,
                next_at,
            })
        });
    }
    let mut made = Vec::with_capacity(due.len());
    while let Some(done) = tasks.join_next().await {
        made.push(done.map_err(crate::store::StoreError::internal)??);
    }
    Ok(made)
}

/// Gives new users the default schedule and works out the next time of every enabled
/// schedule that has none.
async fn schedule_unscheduled(state: &AppState, now: DateTime<Utc>) -> StoreResult<()> {
    const ROUND: i64 = 1000;
    for _ in 0..MAX_ROUNDS {
        if state.store.add_default_digest_rows(ROUND).await? < ROUND as u64 {
            break;
        }
    }
    for _ in 0..MAX_ROUNDS {
        let rows = state.store.unscheduled_digests(ROUND).await?;
        let next: Vec<(Uuid, Option<DateTime<Utc>>)> = rows
            .iter()
            .map(|(row, zone)| {
                // A schedule with no usable time is parked a year ahead rather than retried.
                let at =
                    schedule::next_for(now, zone, &row.schedule.times).unwrap_or(now + chrono::Duration::days(365));
                (row.user_id, Some(at))
            })
            .collect();
        state.store.set_digest_times(&next).await?;
        if (rows.len() as i64) < ROUND {
            break;
        }
    }
    Ok(())
}

/// Organisation policies read once per pass (thresholds and retention of the entries).
#[derive(Default)]
struct Policies(HashMap<Uuid, Policy>);

impl Policies {
    async fn of(&mut self, state: &AppState, org: Uuid) -> StoreResult<&Policy> {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.0.entry(org) {
            entry.insert(state.store.org_policy(org).await?);
        }
        Ok(&self.0[&org])
    }
}

/// A digest made for one user.
#[derive(Debug, Clone)]
pub struct Composed {
    pub mail: SystemMail,
    /// The ids of the messages it lists.
    pub listed: Vec<String>,
    /// How many messages are held in all (it lists at most [`MAX_DIGEST_ITEMS`]).
    pub total: i64,
}

/// The digest of `user`: with `only_new` the held messages no digest listed yet, otherwise
/// every unreviewed one; none when there is nothing to list.
pub async fn compose(
    state: &AppState,
    policy: &Policy,
    user: &UserRecord,
    only_new: bool,
) -> StoreResult<Option<Composed>> {
    let Some(org) = user.org_id else { return Ok(None) };
    let (items, total) = state.store.digest_items(org, user.id, only_new, MAX_DIGEST_ITEMS).await?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut entries = Vec::with_capacity(items.len());
    for mut item in items {
        item.explanation = Some(crate::reasons::explain(&item.reasons, item.score, policy.quarantine_threshold));
        entries.push(DigestEntry::new(item, policy.quarantine_retention_days));
    }
    let listed = entries.iter().map(|e| e.item.id.clone()).collect();
    Ok(Some(Composed { mail: mail::build(&state.config, &state.links, user, &entries, total), listed, total }))
}
