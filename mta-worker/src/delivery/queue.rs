//! The delivery queue: a schedule of spooled messages by next attempt, worked by tasks
//! that deliver each due route, record the outcome durably, retry with backoff, bounce on
//! permanent failure or expiry, and remove the message once every recipient is settled.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moat_openapi::{Direction, EventDetail, EventKind, TlsMode};
use tokio::sync::{Notify, Semaphore};

use crate::common::config::WorkerConfig;
use crate::common::error::WorkerResult;
use crate::common::metrics::Metrics;
use crate::delivery::attempt::{self, Destination, Outcome};
use crate::delivery::board::Board;
use crate::delivery::dsn;
use crate::delivery::spool::{QueuedMessage, Spool};
use crate::delivery::watch::Watched;
use crate::envelope::batv::Batv;
use crate::envelope::routing::{Target, rcpt_target};
use crate::policy::Policy;
use crate::upstream::outbox::{Outbox, event};
use crate::verdict::routes::{RcptState, Route};

/// What the delivery stage needs of the node: handles, cheap to clone into each attempt.
#[derive(Clone)]
pub struct Delivery {
    pub config: Arc<WorkerConfig>,
    /// Customer destinations are looked up again at each attempt (a changed destination
    /// applies to mail already queued).
    pub policy: Policy,
    pub spool: Spool,
    pub queue: Queue,
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
    /// DNS for MX lookups.
    pub resolver: hickory_resolver::TokioResolver,
    /// Signs the envelope sender of outbound mail.
    pub batv: Arc<Batv>,
    /// Copies of what is sent from the Live Archive.
    pub archive: crate::delivery::archive::Archive,
}

#[derive(Clone, Default)]
pub struct Queue(Arc<QueueInner>);

#[derive(Default)]
struct QueueInner {
    schedule: Mutex<Schedule>,
    in_flight: Mutex<HashSet<String>>,
    /// Set on shutdown: no new attempts start, running ones finish and record their outcome.
    draining: std::sync::atomic::AtomicBool,
    wake: Notify,
    /// One semaphore per destination, for the per-destination concurrency limit.
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// What waits for each customer domain, and since when its server fails.
    board: Board,
    /// The last "retry now" of each domain carried out, and the policy version last looked at.
    retries_done: Mutex<HashMap<String, DateTime<Utc>>>,
    retries_checked: std::sync::atomic::AtomicI64,
    /// Test messages waited on by Message-ID.
    watched: crate::delivery::watch::Watchers,
}

/// Spool ids by due time, with each id's due time so rescheduling one is not a scan.
#[derive(Default)]
struct Schedule {
    by_time: BTreeSet<(DateTime<Utc>, String)>,
    due: HashMap<String, DateTime<Utc>>,
}

impl Schedule {
    fn insert(&mut self, at: DateTime<Utc>, id: &str) {
        if let Some(old) = self.due.insert(id.to_string(), at) {
            self.by_time.remove(&(old, id.to_string()));
        }
        self.by_time.insert((at, id.to_string()));
    }

    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<String> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, id) = self.by_time.pop_first()?;
        self.due.remove(&id);
        Some(id)
    }

    fn clear(&mut self) {
        self.by_time.clear();
        self.due.clear();
    }

    fn len(&self) -> usize {
        self.by_time.len()
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(at, _)| *at)
    }
}

fn next_due(msg: &QueuedMessage) -> Option<DateTime<Utc>> {
    msg.routes.iter().filter(|r| !r.is_done()).map(|r| r.next_attempt_at).min()
}

impl Queue {
    /// Schedules a spooled message at its earliest due route.
    pub fn enqueue(&self, msg: &QueuedMessage) {
        for route in msg.routes.iter().filter(|r| !r.is_done()) {
            if let Target::Customer { domain, .. } = &route.target {
                self.0.board.waiting(domain, &route.tracking_id, msg.received_at);
            }
        }
        if let Some(due) = next_due(msg) {
            if let Ok(mut s) = self.0.schedule.lock() {
                s.insert(due, &msg.id);
            }
            self.0.wake.notify_one();
        }
    }

    /// Rebuilds the schedule from the spool (start-up, or after `queue flush`).
    pub fn load(&self, spool: &Spool) {
        match spool.list() {
            Ok(messages) => {
                if let Ok(mut s) = self.0.schedule.lock() {
                    s.clear();
                }
                for msg in &messages {
                    self.enqueue(msg);
                }
                tracing::info!(messages = messages.len(), "queue loaded");
            }
            Err(err) => tracing::error!(%err, "cannot read the queue"),
        }
    }

    /// The continuity board of customer destinations.
    /// Messages waited on (a test delivery's test message).
    pub fn watched(&self) -> &crate::delivery::watch::Watchers {
        &self.0.watched
    }

    pub fn board(&self) -> &Board {
        &self.0.board
    }

    pub fn depth(&self) -> usize {
        self.0.schedule.lock().map(|s| s.len()).unwrap_or(0) + self.0.in_flight.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn limit(&self, key: &str, per_destination: usize) -> Arc<Semaphore> {
        let mut limits = self.0.limits.lock().expect("queue limits lock");
        limits.entry(key.to_string()).or_insert_with(|| Arc::new(Semaphore::new(per_destination.max(1)))).clone()
    }

    fn take_due(&self) -> (Vec<String>, Option<DateTime<Utc>>) {
        let now = Utc::now();
        let mut schedule = self.0.schedule.lock().expect("queue schedule lock");
        let mut in_flight = self.0.in_flight.lock().expect("queue in-flight lock");
        let mut due = Vec::new();
        while let Some(id) = schedule.pop_due(now) {
            if in_flight.insert(id.clone()) {
                due.push(id);
            }
        }
        (due, schedule.next())
    }

    fn finished(&self, id: &str) {
        if let Ok(mut f) = self.0.in_flight.lock() {
            f.remove(id);
        }
        self.0.wake.notify_waiters();
    }

    /// Stops starting attempts and waits (up to `grace`) for running ones to record their
    /// outcome, so a message delivered just before a stop is not delivered again after it.
    pub async fn drain(&self, grace: Duration) {
        self.0.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let running = self.0.in_flight.lock().map(|f| f.len()).unwrap_or(0);
            if running == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(running, "stopping with deliveries in flight; they will be retried");
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), self.0.wake.notified()).await;
        }
    }

    fn draining(&self) -> bool {
        self.0.draining.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Sets every pending route of every spooled message due now (`moat-mta queue flush`).
pub fn flush_files(spool: &Spool) -> WorkerResult<usize> {
    let mut n = 0;
    for mut msg in spool.list()? {
        for route in msg.routes.iter_mut().filter(|r| !r.is_done()) {
            route.next_attempt_at = Utc::now();
        }
        spool.update_blocking(&msg)?;
        n += 1;
    }
    Ok(n)
}

/// One pass in the caller's task: every message due now is attempted and its outcome
/// recorded before this returns (how tests drive the queue step by step). Answers how many
/// messages were attempted.
pub async fn run_due(delivery: &Delivery) -> usize {
    let (due, _) = delivery.queue.take_due();
    for id in &due {
        process(delivery, id).await;
        delivery.queue.finished(id);
    }
    due.len()
}

/// Works the queue forever.
pub async fn run(delivery: Delivery) {
    loop {
        if delivery.queue.draining() {
            return;
        }
        retry_requested(&delivery).await;
        let (due, next) = delivery.queue.take_due();
        for id in due {
            let delivery = delivery.clone();
            tokio::spawn(async move {
                process(&delivery, &id).await;
                delivery.queue.finished(&id);
            });
        }
        let wait = next
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let _ = tokio::time::timeout(wait, delivery.queue.0.wake.notified()).await;
        delivery.metrics.queue_depth.set(delivery.queue.depth() as i64);
    }
}

/// A "retry now" an admin asked for is honoured once, and only while it is recent (a
/// restarted worker does not retry for an old request).
const RETRY_REQUEST_FRESH_SECS: i64 = 600;

/// Makes the waiting routes of every domain with a new "retry now" due at once.
pub async fn retry_requested(delivery: &Delivery) {
    let policy = delivery.policy.get();
    // A request arrives with a new snapshot: an unchanged one has nothing new to look at.
    let checked = &delivery.queue.0.retries_checked;
    if checked.swap(policy.version, std::sync::atomic::Ordering::Relaxed) == policy.version {
        return;
    }
    let fresh = Utc::now() - chrono::Duration::seconds(RETRY_REQUEST_FRESH_SECS);
    let new: Vec<(String, DateTime<Utc>)> = {
        let done = delivery.queue.0.retries_done.lock().expect("retries lock");
        policy
            .retry_requests()
            .filter(|(name, at)| *at > fresh && done.get(*name).is_none_or(|seen| seen < at))
            .map(|(name, at)| (name.to_string(), at))
            .collect()
    };
    for (domain, at) in new {
        if let Ok(mut done) = delivery.queue.0.retries_done.lock() {
            done.insert(domain.clone(), at);
        }
        let mut ids: Vec<String> = delivery
            .queue
            .board()
            .waiting_routes(&domain)
            .into_iter()
            .filter_map(|t| t.rsplit_once('.').map(|(id, _)| id.to_string()))
            .collect();
        ids.sort();
        ids.dedup();
        tracing::info!(%domain, messages = ids.len(), "retry now, as an admin asked");
        for id in ids {
            let Some(mut msg) = delivery.spool.read(&id) else { continue };
            for route in msg.routes.iter_mut().filter(|r| !r.is_done()) {
                if matches!(&route.target, Target::Customer { domain: d, .. } if d.eq_ignore_ascii_case(&domain)) {
                    route.next_attempt_at = Utc::now();
                }
            }
            if delivery.spool.update(&msg).await.is_ok() {
                delivery.queue.enqueue(&msg);
            }
        }
    }
}

async fn destination(delivery: &Delivery, target: &Target) -> Result<Destination, Outcome> {
    let internal_ok = delivery.config.allow_internal_destinations;
    match target {
        Target::Customer { domain, host, port, tls } => {
            let policy = delivery.policy.get();
            let dest = match policy.domain(domain) {
                Some(d) => {
                    Destination { hosts: vec![(d.destination_host.clone(), d.destination_port)], tls: d.tls_mode }
                }
                None => Destination { hosts: vec![(host.clone(), *port)], tls: *tls },
            };
            if !internal_ok {
                for (host, _) in &dest.hosts {
                    if let Some(ip) = attempt::internal_address(&delivery.resolver, host).await {
                        // The customer can fix its destination: keep the mail and retry.
                        return Err(Outcome::Deferred(format!(
                            "451 4.4.3 the destination {host} resolves to an internal address ({ip}); not delivered"
                        )));
                    }
                }
            }
            Ok(dest)
        }
        Target::Mx { domain } => {
            let mut hosts = attempt::mx_hosts(&delivery.resolver, domain, delivery.config.mx_port).await?;
            if !internal_ok {
                hosts.retain(|(ip, _)| !ip.parse().is_ok_and(moat_openapi::is_internal_address));
                if hosts.is_empty() {
                    return Err(Outcome::Failed(format!(
                        "554 5.4.6 the mail hosts of {domain} are internal addresses (mail would loop back)"
                    )));
                }
            }
            Ok(Destination { hosts, tls: TlsMode::Opportunistic })
        }
    }
}

/// One pass over a message: deliver its due routes and record what happened.
async fn process(delivery: &Delivery, id: &str) {
    let Some((mut msg, raw)) = delivery.spool.load(id).await else { return };
    let raw = match raw {
        Ok(raw) => raw,
        Err(err) => {
            tracing::error!(%id, %err, "spooled message unreadable; retrying later");
            if let Some(route) = msg.routes.first_mut() {
                route.next_attempt_at = Utc::now() + chrono::Duration::seconds(60);
            }
            delivery.queue.enqueue(&msg);
            return;
        }
    };
    let config = &delivery.config;
    let now = Utc::now();
    let age = (now - msg.received_at).to_std().unwrap_or_default();
    let mut events = Vec::new();
    let mut failed_now: Vec<(String, String)> = Vec::new();
    for route in msg.routes.iter_mut().filter(|r| !r.is_done() && r.next_attempt_at <= now) {
        let rcpts: Vec<String> = route.pending().map(|r| r.address.clone()).collect();
        let started = std::time::Instant::now();
        let outcomes = match destination(delivery, &route.target).await {
            Ok(dest) => {
                let limit = delivery.queue.limit(&route.target.key(), config.destination_concurrency);
                let _permit = limit.acquire_owned().await;
                let timeout = Duration::from_secs(config.delivery_timeout_secs);
                // Outbound mail leaves with a BATV-signed envelope sender, so bounces can be checked.
                let mail_from = if matches!(route.target, Target::Mx { .. }) && msg.direction == Direction::Outbound {
                    delivery.batv.sign(&msg.sender)
                } else {
                    msg.sender.clone()
                };
                attempt::attempt(&config.hostname, timeout, &dest, &mail_from, &rcpts, &raw).await
            }
            Err(outcome) => rcpts.iter().map(|r| (r.clone(), outcome.clone())).collect(),
        };
        delivery.metrics.delivery_latency.observe(started.elapsed().as_secs_f64());
        let expired = age > expiry(delivery, &route.target);
        note_on_board(delivery.queue.board(), route, &outcomes);
        if let Some((_, first)) = outcomes.first() {
            delivery.queue.watched().report(&msg.message_id, || Watched::Attempted(first.clone()));
        }
        apply(route, outcomes, expired, config, &mut events, &mut failed_now);
        if let (Target::Customer { domain, .. }, true) = (&route.target, route.is_done()) {
            delivery.queue.board().settled(domain, &route.tracking_id);
        }
    }
    let bounce = !failed_now.is_empty() && !msg.sender.is_empty() && msg.direction != Direction::Bounce;
    if bounce && let Err(err) = send_dsn(delivery, &msg, &failed_now, &raw).await {
        tracing::error!(%id, %err, "cannot queue the bounce");
    }
    // A failure is logged by the outbox; the delivery outcome itself is in the spool.
    let _ = delivery.outbox.record(events).await;
    if msg.is_done() {
        if let Err(err) = delivery.spool.remove(id) {
            tracing::error!(%id, %err, "cannot remove a finished message");
        }
        tracing::info!(%id, "message finished");
    } else {
        if let Err(err) = delivery.spool.update(&msg).await {
            tracing::error!(%id, %err, "cannot record delivery state");
        }
        delivery.queue.enqueue(&msg);
    }
}

/// How long mail for `target` may wait: its customer domain's own expiry, else the node's.
fn expiry(delivery: &Delivery, target: &Target) -> Duration {
    let own = match target {
        Target::Customer { domain, .. } => delivery.policy.get().domain(domain).and_then(|d| d.queue_expiry_days),
        Target::Mx { .. } => None,
    };
    own.map(|days| Duration::from_secs(u64::from(days) * 86_400))
        .unwrap_or(Duration::from_secs(delivery.config.queue_expiry_secs))
}

/// What an attempt tells of a customer server: it took mail (back), or it could not be
/// reached or would not take any (unreachable since the first such attempt).
fn note_on_board(board: &Board, route: &Route, outcomes: &[(String, Outcome)]) {
    let Target::Customer { domain, .. } = &route.target else { return };
    if outcomes.iter().any(|(_, o)| matches!(o, Outcome::Delivered(_))) {
        board.reached(domain);
    } else if let Some((_, Outcome::Deferred(text))) = outcomes.iter().find(|(_, o)| matches!(o, Outcome::Deferred(_)))
    {
        board.failed(domain, text);
    }
}

/// Records one attempt's outcomes on the route, with events and the next retry time.
fn apply(
    route: &mut Route,
    outcomes: Vec<(String, Outcome)>,
    expired: bool,
    config: &WorkerConfig,
    events: &mut Vec<moat_openapi::MessageEvent>,
    failed_now: &mut Vec<(String, String)>,
) {
    let (mut delivered, mut deferred, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (address, outcome) in outcomes {
        let Some(rcpt) = route.recipients.iter_mut().find(|r| r.address == address) else { continue };
        match outcome {
            Outcome::Delivered(text) => {
                rcpt.state = RcptState::Delivered;
                rcpt.response = Some(text.clone());
                delivered.push((address, text));
            }
            Outcome::Failed(text) => {
                rcpt.state = RcptState::Failed;
                rcpt.response = Some(text.clone());
                failed.push((address, text));
            }
            Outcome::Deferred(text) if expired => {
                let text = format!("expired in queue; last error: {text}");
                rcpt.state = RcptState::Failed;
                rcpt.response = Some(text.clone());
                failed.push((address, text));
            }
            Outcome::Deferred(text) => {
                rcpt.response = Some(text.clone());
                deferred.push((address, text));
            }
        }
    }
    let detail = |list: &Vec<(String, String)>| EventDetail {
        recipients: list.iter().map(|(a, _)| a.clone()).collect(),
        response: list.first().map(|(_, t)| t.clone()),
        destination: Some(route.target.key()),
        ..Default::default()
    };
    if !delivered.is_empty() {
        events.push(event(&route.tracking_id, EventKind::Delivered, route.org_id, detail(&delivered)));
    }
    if !deferred.is_empty() {
        route.failures += 1;
        route.last_error = deferred.first().map(|(_, t)| t.clone());
        let delay = config.retry_delay(route.failures);
        route.next_attempt_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(5));
        events.push(event(&route.tracking_id, EventKind::Deferred, route.org_id, detail(&deferred)));
        tracing::info!(route = %route.tracking_id, retry_in = ?delay, error = ?route.last_error, "delivery deferred");
    }
    if !failed.is_empty() {
        route.last_error = failed.first().map(|(_, t)| t.clone());
        events.push(event(&route.tracking_id, EventKind::Bounced, route.org_id, detail(&failed)));
        failed_now.extend(failed);
    }
}

/// Queues a DSN to the sender of `msg` for the recipients in `failed`.
async fn send_dsn(
    delivery: &Delivery,
    msg: &QueuedMessage,
    failed: &[(String, String)],
    raw: &[u8],
) -> WorkerResult<()> {
    let body = dsn::build(&delivery.config.hostname, &msg.sender, &msg.id, failed, dsn::header_block(raw));
    let routing = rcpt_target(&delivery.policy.get(), &msg.sender);
    let org_id = routing.1;
    let subject = "Undelivered Mail Returned to Sender";
    let dsn_msg = QueuedMessage::generated(
        "",
        &delivery.config.hostname,
        Direction::Bounce,
        subject,
        body.len(),
        routing,
        &msg.sender,
    );
    let id = dsn_msg.id.clone();
    delivery.spool.store(&dsn_msg, body).await?;
    let detail = EventDetail {
        direction: Some(Direction::Bounce),
        sender: Some(String::new()),
        recipients: vec![msg.sender.clone()],
        subject: Some(dsn_msg.subject.clone()),
        size: Some(dsn_msg.size as i64),
        client_ip: Some(dsn_msg.client_ip.clone()),
        ..Default::default()
    };
    let _ =
        delivery.outbox.record(vec![event(&dsn_msg.routes[0].tracking_id, EventKind::Received, org_id, detail)]).await;
    delivery.queue.enqueue(&dsn_msg);
    tracing::info!(%id, to = %msg.sender, "bounce queued");
    Ok(())
}
