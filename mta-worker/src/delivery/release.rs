//! Jobs from the API: releases from quarantine (stamped `X-Moat-Released: <who>`) and the
//! platform's own mail become spooled messages for the recipient's destination and go
//! through the queue like any other (retries, DSNs). A job is reported done once its message
//! is durable here.

use std::time::Duration;

use base64::Engine;
use moat_openapi::{Direction, JobDone, WorkerJob, WorkerJobKind};

use crate::common::backoff::Backoff;
use crate::common::error::{WorkerError, WorkerResult};
use crate::delivery::queue::Delivery;
use crate::delivery::spool::QueuedMessage;
use crate::envelope::routing::rcpt_target;
use crate::upstream::client::ApiClient;

/// How often the API is asked for jobs when there were none.
const IDLE: Duration = Duration::from_secs(2);

/// Takes and carries out jobs forever.
pub async fn run(delivery: Delivery, api: ApiClient) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match api.lease_jobs().await {
            Ok(batch) if batch.jobs.is_empty() => tokio::time::sleep(IDLE).await,
            Ok(batch) => {
                backoff.reset();
                for job in batch.jobs {
                    let done = match carry_out(&delivery, &job).await {
                        Ok(()) => JobDone { ok: true, error: None },
                        Err(err) => {
                            tracing::warn!(%err, job = %job.id, "release not queued");
                            JobDone { ok: false, error: Some(err.to_string()) }
                        }
                    };
                    // An unreported job goes back to the API's queue when its lease ends.
                    if let Err(err) = api.job_done(job.id, &done).await {
                        tracing::warn!(%err, job = %job.id, "cannot report the job yet");
                    }
                }
            }
            Err(err) => {
                tracing::debug!(%err, "cannot lease jobs yet");
                backoff.wait().await;
            }
        }
    }
}

/// Spools one job's message for its recipient: a released message stamped with who
/// released it, or a mail of the platform's own, as it came.
pub async fn carry_out(delivery: &Delivery, job: &WorkerJob) -> WorkerResult<()> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(job.raw_base64.as_bytes())
        .map_err(|e| WorkerError::Usage(format!("the job's message is not base64: {e}")))?;
    let (bytes, direction) = match job.kind {
        WorkerJobKind::Release => {
            let who: String = job.released_by.chars().filter(|c| !c.is_control()).take(200).collect();
            let mut stamped = format!("X-Moat-Released: {who}\r\n").into_bytes();
            stamped.extend_from_slice(&raw);
            (stamped, Direction::Inbound)
        }
        WorkerJobKind::SystemMail => (raw, Direction::Outbound),
    };
    let (target, org) = rcpt_target(&delivery.policy.get(), &job.recipient);
    let routing = (target, org.or(job.org_id));
    let helo = &delivery.config.hostname;
    let msg = QueuedMessage::generated(&job.sender, helo, direction, "", bytes.len(), routing, &job.recipient);
    let id = msg.id.clone();
    delivery.spool.store(&msg, bytes).await?;
    delivery.queue.enqueue(&msg);
    tracing::info!(%id, job = %job.id, kind = ?job.kind, rcpt = %job.recipient, "job's message queued");
    Ok(())
}
