//! Jobs from the API: releases from quarantine (stamped `X-Moat-Released: <who>`), the
//! platform's own mail and messages users wrote in the Live Archive become spooled messages
//! and go through the queue like any other (retries, DSNs; BATV for outbound). A job is reported done once its message
//! is durable here.

use std::time::Duration;

use base64::Engine;
use moat_openapi::{Direction, JobDone, WorkerJob, WorkerJobKind};

use crate::common::backoff::Backoff;
use crate::common::error::{WorkerError, WorkerResult};
use crate::delivery::probe::Intake;
use crate::delivery::queue::Delivery;
use crate::delivery::spool::QueuedMessage;
use crate::envelope::routing::rcpt_target;
use crate::upstream::client::ApiClient;

/// How often the API is asked for jobs when there were none.
const IDLE: Duration = Duration::from_secs(2);

/// Takes and carries out jobs forever.
pub async fn run(delivery: Delivery, api: ApiClient, intake: Intake) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match api.lease_jobs().await {
            Ok(batch) if batch.jobs.is_empty() => tokio::time::sleep(IDLE).await,
            Ok(batch) => {
                backoff.reset();
                for job in batch.jobs {
                    if job.kind == WorkerJobKind::TestDelivery {
                        // A probe waits on a stranger's server: it must not hold up releases.
                        tokio::spawn(test_delivery(delivery.clone(), api.clone(), intake.clone(), job));
                        continue;
                    }
                    let done = match carry_out(&delivery, &job).await {
                        Ok(()) => JobDone { ok: true, error: None, report: None },
                        Err(err) => {
                            tracing::warn!(%err, job = %job.id, "release not queued");
                            JobDone { ok: false, error: Some(err.to_string()), report: None }
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

/// Runs a test delivery and reports its stages.
async fn test_delivery(delivery: Delivery, api: ApiClient, intake: Intake, job: WorkerJob) {
    let report = crate::delivery::probe::run(&delivery, &intake, &job).await;
    tracing::info!(job = %job.id, stages = report.stages.len(), "test delivery ran");
    let done = JobDone { ok: true, error: None, report: Some(report) };
    if let Err(err) = api.job_done(job.id, &done).await {
        tracing::warn!(%err, job = %job.id, "cannot report the test delivery");
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
            let direction = if job.direction == Direction::Outbound { Direction::Outbound } else { Direction::Inbound };
            (stamped, direction)
        }
        WorkerJobKind::SystemMail => (raw, Direction::Outbound),
        WorkerJobKind::ArchiveSend => return send_from_archive(delivery, job, raw).await,
        WorkerJobKind::TestDelivery => return Err(WorkerError::Usage("a test delivery spools nothing".into())),
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

/// A message a user wrote in the Live Archive: one spooled outbound message with a route per
/// destination (external recipients by MX, a customer's own users to its server, which may
/// be down: they wait in the queue and find it in their archive meanwhile), tracked, and
/// kept for the archive (the sender's Sent folder and internal recipients' Inboxes).
async fn send_from_archive(delivery: &Delivery, job: &WorkerJob, raw: Vec<u8>) -> WorkerResult<()> {
    use crate::verdict::routes::{RcptState, Route, RouteRcpt};
    let recipients: Vec<String> =
        if job.recipients.is_empty() { vec![job.recipient.clone()] } else { job.recipients.clone() };
    let policy = delivery.policy.get();
    let headers = mail_parser::MessageParser::new().parse_headers(&raw);
    let subject =
        headers.as_ref().and_then(|m| m.subject()).map(|s| moat_openapi::bounded(s, moat_openapi::MAX_SUBJECT_CHARS));
    let message_id = headers.as_ref().and_then(|m| m.message_id()).unwrap_or_default().to_string();
    drop(headers);
    let first = recipients.first().ok_or_else(|| WorkerError::Usage("an archive send without recipients".into()))?;
    let (target, org) = rcpt_target(&policy, first);
    let helo = &delivery.config.hostname;
    let mut msg = QueuedMessage::generated(
        &job.sender,
        helo,
        Direction::Outbound,
        subject.as_deref().unwrap_or_default(),
        raw.len(),
        (target, org.or(job.org_id)),
        first,
    );
    msg.message_id = message_id;
    for address in recipients.iter().skip(1) {
        let (target, org) = rcpt_target(&policy, address);
        let rcpt = RouteRcpt { address: address.clone(), state: RcptState::Pending, response: None };
        match msg.routes.iter_mut().find(|r| r.target == target) {
            Some(route) => route.recipients.push(rcpt),
            None => {
                let route = Route {
                    tracking_id: format!("{}.{}", msg.id, msg.routes.len() + 1),
                    org_id: org.or(job.org_id),
                    target,
                    recipients: vec![rcpt],
                    failures: 0,
                    next_attempt_at: msg.received_at,
                    last_error: None,
                };
                msg.routes.push(route);
            }
        }
    }
    delivery.spool.store(&msg, raw).await?;
    if let Err(err) = delivery.archive.keep(&delivery.spool, &msg).await {
        tracing::warn!(%err, id = %msg.id, "cannot keep the archive copy of a sent message");
    }
    let events = msg.routes.iter().flat_map(|r| msg.arrival_events(r, moat_openapi::Verdict::Deliver, Vec::new()));
    let _ = delivery.outbox.record(events.collect()).await;
    delivery.queue.enqueue(&msg);
    tracing::info!(id = %msg.id, job = %job.id, rcpts = recipients.len(), "archive send queued");
    Ok(())
}
