//! Outbound sending limits (the relaying organisation's policy): messages per hour and per
//! day for each sender address and for the whole organisation, recipients per message and
//! per day for each sender. This node counts what passes through it over fixed hourly and
//! daily windows (UTC) and exchanges its counts with the other nodes through the API every
//! few seconds, so a limit holds for the traffic of every node together (give or take what
//! passes in one exchange interval); an account over a limit raises an alert at the API,
//! which mails the organisation's admins and, when the action is `block`, lists the sender in
//! every worker's snapshot until an admin clears it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat_openapi::{AlertBatch, AlertKind, OutboundCount, OutboundLimitAction, OutboundLimits, RaisedAlert};
use uuid::Uuid;

use crate::envelope::routing::{AcceptedRcpt, RcptContext, Refusal};
use crate::upstream::client::ApiClient;

/// Counts of one sender (or one organisation) in the current windows.
#[derive(Debug, Default)]
struct Window {
    hour: i64,
    hour_messages: u32,
    /// The sender's usual messages per hour (a moving average over past hours).
    usual: f64,
    day: i64,
    day_messages: u32,
    day_recipients: u32,
}

impl Window {
    /// Starts new windows when the hour or day changed.
    fn roll(&mut self, now: i64) {
        let (hour, day) = (now / 3600, now / 86_400);
        if self.hour != hour {
            // Each hour past weighs in; quiet hours (none recorded) pull the usual down.
            let quiet = (hour - self.hour - 1).clamp(0, 48) as i32;
            if self.hour != 0 {
                self.usual = (self.usual * 0.8 + f64::from(self.hour_messages) * 0.2) * 0.8f64.powi(quiet);
            }
            (self.hour, self.hour_messages) = (hour, 0);
        }
        if self.day != day {
            (self.day, self.day_messages, self.day_recipients) = (day, 0, 0);
        }
    }
}

/// A sender's hour counts as a jump from this many messages, and when it is this many times
/// its usual hourly volume.
const JUMP_MIN: u32 = 30;
const JUMP_FACTOR: f64 = 5.0;

/// Which limit a message would go over, for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub kind: AlertKind,
    pub detail: String,
}

/// Most senders (and organisations) counted, here and from the other nodes; each is
/// forgotten a day after its last message.
const MAX_SENDERS: u64 = 1_000_000;
/// Most counts one push carries (the API takes at most 1,000), and most pulls in a row when
/// the API says more changes wait.
const PUSH_CHUNK: usize = 1000;
const MAX_PULLS: usize = 20;

/// This node's counters and the other nodes' counts; bounded.
#[derive(Clone)]
pub struct OutboundMeter {
    windows: moka::sync::Cache<String, Arc<Mutex<Window>>>,
    /// The other nodes' counts as the API last summed them.
    others: moka::sync::Cache<String, OutboundCount>,
    /// Keys counted here since the last push (never more than `MAX_SENDERS`).
    dirty: Arc<Mutex<HashSet<String>>>,
    /// How far this node has read the other nodes' changes.
    cursor: Arc<AtomicI64>,
    /// Alerts raised from here recently (the API keeps one open alert per subject anyway).
    raised: moka::sync::Cache<String, ()>,
}

impl Default for OutboundMeter {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        OutboundMeter {
            windows: moka::sync::Cache::builder().max_capacity(MAX_SENDERS).time_to_idle(day).build(),
            others: moka::sync::Cache::builder().max_capacity(MAX_SENDERS).time_to_idle(day).build(),
            dirty: Arc::default(),
            cursor: Arc::default(),
            raised: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(600)).build(),
        }
    }
}

/// The first `(limit, counted, adding, what)` that `adding` more would take past its limit
/// (0: no limit), said for people: `what` with the count, and the limit.
fn first_over(checks: &[(u32, u32, u32, &str)]) -> Option<String> {
    checks.iter().find(|(limit, counted, adding, _)| *limit > 0 && counted.saturating_add(*adding) > *limit).map(
        |(limit, counted, _, what)| format!("{}, the limit is {limit}", what.replacen("{}", &counted.to_string(), 1)),
    )
}

/// The other nodes' counts of one key in the current windows.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Elsewhere {
    hour_messages: u32,
    day_messages: u32,
    day_recipients: u32,
}

impl Window {
    /// This window as the API is told it.
    fn count(&self, key: &str) -> OutboundCount {
        OutboundCount {
            key: key.to_string(),
            hour: self.hour,
            hour_messages: i64::from(self.hour_messages),
            day: self.day,
            day_messages: i64::from(self.day_messages),
            day_recipients: i64::from(self.day_recipients),
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl OutboundMeter {
    fn window(&self, key: String) -> Arc<Mutex<Window>> {
        self.windows.get_with(key, || Arc::new(Mutex::new(Window::default())))
    }

    /// Whether one more recipient (the `nth` of its message, from 1) of one more message
    /// from `sender` fits the limits.
    pub fn check(&self, limits: &OutboundLimits, org: Uuid, sender: &str, nth: usize) -> Result<(), Exceeded> {
        let over = |detail: String| Err(Exceeded { kind: AlertKind::OutboundLimit, detail });
        let nth = u32::try_from(nth).unwrap_or(u32::MAX);
        if limits.user_recipients_per_message > 0 && nth > limits.user_recipients_per_message {
            return over(format!("more than {} recipients in one message", limits.user_recipients_per_message));
        }
        let t = now();
        let user = self.counted(&format!("{org}/{sender}"), t);
        let over_user = first_over(&[
            (limits.user_messages_per_hour, user.hour_messages, 1, "{} messages in this hour"),
            (limits.user_messages_per_day, user.day_messages, 1, "{} messages today"),
            (limits.user_recipients_per_day, user.day_recipients, nth, "{} recipients today"),
        ]);
        if let Some(detail) = over_user {
            return over(detail);
        }
        let whole = self.counted(&org.to_string(), t);
        let over_org = first_over(&[
            (limits.org_messages_per_hour, whole.hour_messages, 1, "the organisation sent {} messages in this hour"),
            (limits.org_messages_per_day, whole.day_messages, 1, "the organisation sent {} messages today"),
        ]);
        match over_org {
            Some(detail) => Err(Exceeded { kind: AlertKind::OrgOutboundLimit, detail }),
            None => Ok(()),
        }
    }

    /// The other nodes' counts of `key` in the windows of `t` (older windows count nothing).
    fn elsewhere(&self, key: &str, t: i64) -> Elsewhere {
        let Some(c) = self.others.get(key) else { return Elsewhere::default() };
        let small = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        let (this_hour, today) = (c.hour == t / 3600, c.day == t / 86_400);
        Elsewhere {
            hour_messages: if this_hour { small(c.hour_messages) } else { 0 },
            day_messages: if today { small(c.day_messages) } else { 0 },
            day_recipients: if today { small(c.day_recipients) } else { 0 },
        }
    }

    /// What every node counted of `key` in the windows of `t`: here and elsewhere.
    fn counted(&self, key: &str, t: i64) -> Elsewhere {
        let window = self.window(key.to_string());
        let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
        w.roll(t);
        let o = self.elsewhere(key, t);
        Elsewhere {
            hour_messages: w.hour_messages.saturating_add(o.hour_messages),
            day_messages: w.day_messages.saturating_add(o.day_messages),
            day_recipients: w.day_recipients.saturating_add(o.day_recipients),
        }
    }

    /// Counts an accepted message of `sender` with `recipients` outside recipients; answers
    /// an alert when the sender's volume this hour jumped far above its usual.
    pub fn record(&self, org: Uuid, sender: &str, recipients: usize) -> Option<RaisedAlert> {
        let t = now();
        let recipients = u32::try_from(recipients).unwrap_or(u32::MAX);
        let mut jump = None;
        for (key, rcpts) in [(format!("{org}/{sender}"), recipients), (org.to_string(), 0)] {
            let window = self.window(key.clone());
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            w.roll(t);
            w.hour_messages = w.hour_messages.saturating_add(1);
            w.day_messages = w.day_messages.saturating_add(1);
            w.day_recipients = w.day_recipients.saturating_add(rcpts);
            // The usual volume is this node's; the hour's count is every node's.
            let hour = w.hour_messages.saturating_add(self.elsewhere(&key, t).hour_messages);
            let threshold = (w.usual * JUMP_FACTOR).max(f64::from(JUMP_MIN));
            if jump.is_none() && rcpts > 0 && f64::from(hour) >= threshold {
                jump = Some(RaisedAlert {
                    org_id: org,
                    kind: AlertKind::VolumeJump,
                    subject: sender.to_string(),
                    detail: format!(
                        "{hour} messages in this hour where about {:.0} per hour is usual; alert only",
                        w.usual
                    ),
                    blocks: false,
                });
            }
            drop(w);
            let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
            if (dirty.len() as u64) < MAX_SENDERS {
                dirty.insert(key);
            }
        }
        jump
    }

    /// Tells the API this node's changed counts and takes the other nodes', forever.
    pub async fn sync(&self, api: ApiClient, every: Duration) {
        loop {
            self.exchange(&api).await;
            tokio::time::sleep(every).await;
        }
    }

    /// One exchange: pushes what changed (in chunks), pulls the others' changes (all of them,
    /// within `MAX_PULLS` answers). A failed push keeps its keys for the next exchange.
    pub async fn exchange(&self, api: &ApiClient) {
        let keys: Vec<String> = self.dirty.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        let mut counts: Vec<OutboundCount> = keys
            .iter()
            .filter_map(|k| self.windows.get(k).map(|w| w.lock().unwrap_or_else(|e| e.into_inner()).count(k)))
            .collect();
        for _ in 0..MAX_PULLS {
            let chunk: Vec<OutboundCount> = counts.drain(..counts.len().min(PUSH_CHUNK)).collect();
            let since = self.cursor.load(Ordering::Relaxed);
            match api.exchange_outbound_counts(since, &chunk).await {
                Ok(changes) => {
                    for c in changes.counts {
                        self.others.insert(c.key.clone(), c);
                    }
                    self.cursor.store(changes.cursor, Ordering::Relaxed);
                    if !changes.more && counts.is_empty() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::debug!(%err, "cannot exchange outbound counts; will retry");
                    let unsent = chunk.into_iter().chain(counts).map(|c| c.key);
                    self.dirty.lock().unwrap_or_else(|e| e.into_inner()).extend(unsent);
                    return;
                }
            }
        }
        if !counts.is_empty() {
            self.dirty.lock().unwrap_or_else(|e| e.into_inner()).extend(counts.into_iter().map(|c| c.key));
        }
    }

    /// Tells the API (once in a while per subject; best effort: the limit holds anyway).
    pub fn raise(&self, api: &ApiClient, alert: RaisedAlert) {
        let key = format!("{}/{:?}/{}", alert.org_id, alert.kind, alert.subject);
        if self.raised.contains_key(&key) {
            return;
        }
        self.raised.insert(key, ());
        let api = api.clone();
        tokio::spawn(async move {
            let batch = AlertBatch { alerts: vec![alert] };
            let mut backoff = crate::common::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(16));
            for attempt in 0..5u32 {
                match api.post_alerts(&batch).await {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::debug!(%err, attempt, "cannot raise the alert yet");
                        backoff.wait().await;
                    }
                }
            }
        });
    }
}

/// Applies the relaying organisation's outbound limits to an outside recipient (the `nth`
/// of its message): a sender an admin must clear gets `550`; one over a limit raises an
/// alert and, per the organisation's action, gets `451` (defer), `550` (block) or passes.
/// A recipient whose domain the relaying organisation's outbound policy blocks is refused.
pub fn recipient_domain_allowed(ctx: RcptContext, rcpt: AcceptedRcpt) -> Result<AcceptedRcpt, Refusal> {
    let Some(org) = rcpt.org_id.filter(|_| !rcpt.inbound) else { return Ok(rcpt) };
    let Some(policy) = ctx.policy.org_policy(org) else { return Ok(rcpt) };
    let domain = crate::envelope::routing::split_address(&rcpt.address).map(|(_, d)| d).unwrap_or_default();
    match policy.outbound_content.blocked_recipient_domain(&domain) {
        Some(blocked) => {
            Err(Refusal(550, "5.7.1", format!("Mail to {blocked} is blocked by your organisation's outbound policy")))
        }
        None => Ok(rcpt),
    }
}

pub fn outbound_limited(
    ctx: RcptContext,
    meter: &OutboundMeter,
    api: &ApiClient,
    nth: usize,
    rcpt: AcceptedRcpt,
) -> Result<AcceptedRcpt, Refusal> {
    let Some(org) = rcpt.org_id.filter(|_| !rcpt.inbound) else { return Ok(rcpt) };
    let sender = ctx.sender.to_lowercase();
    if ctx.policy.sending_blocked(org, &sender) {
        return Err(Refusal(
            550,
            "5.7.1",
            format!("<{sender}>: sending is suspended after a sending limit; an administrator must clear the alert"),
        ));
    }
    let limits = ctx.policy.org_policy(org).map(|p| p.outbound).unwrap_or_default();
    if sender.is_empty() || !limits.any() {
        return Ok(rcpt);
    }
    let Err(over) = meter.check(&limits, org, &sender, nth) else { return Ok(rcpt) };
    let subject = match over.kind {
        AlertKind::OrgOutboundLimit => "the organisation".to_string(),
        AlertKind::OutboundLimit | AlertKind::VolumeJump => sender.clone(),
    };
    let blocks = limits.action == OutboundLimitAction::Block;
    tracing::warn!(%org, %sender, detail = %over.detail, action = ?limits.action, "outbound limit reached");
    let effect = match limits.action {
        OutboundLimitAction::Defer => "mail over the limit is deferred",
        OutboundLimitAction::Block => "sending is blocked",
        OutboundLimitAction::AlertOnly => "mail goes on (alert only)",
    };
    let detail = format!("{}; {effect}", over.detail);
    meter.raise(api, RaisedAlert { org_id: org, kind: over.kind, subject, detail, blocks });
    match limits.action {
        OutboundLimitAction::AlertOnly => Ok(rcpt),
        OutboundLimitAction::Defer if over.detail.contains("in one message") => {
            Err(Refusal(452, "4.5.3", format!("Too many recipients: {}", over.detail)))
        }
        OutboundLimitAction::Defer => {
            Err(Refusal(451, "4.7.1", format!("Sending limit reached ({}); try again later", over.detail)))
        }
        OutboundLimitAction::Block => Err(Refusal(
            550,
            "5.7.1",
            format!("Sending limit reached ({}); sending is suspended until an administrator clears it", over.detail),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_messages_and_recipients_per_sender_and_organisation() {
        let meter = OutboundMeter::default();
        let org = Uuid::new_v4();
        let limits = OutboundLimits {
            user_messages_per_hour: 2,
            user_recipients_per_message: 3,
            org_messages_per_hour: 3,
            ..OutboundLimits::default()
        };
        assert!(meter.check(&limits, org, "ann@a.test", 3).is_ok());
        assert_eq!(meter.check(&limits, org, "ann@a.test", 4).unwrap_err().kind, AlertKind::OutboundLimit);
        meter.record(org, "ann@a.test", 1);
        meter.record(org, "ann@a.test", 1);
        let over = meter.check(&limits, org, "ann@a.test", 1).unwrap_err();
        assert!(over.detail.contains("2 messages in this hour"), "{over:?}");
        // Another sender has its own count, until the organisation's is used up.
        assert!(meter.check(&limits, org, "bob@a.test", 1).is_ok());
        meter.record(org, "bob@a.test", 1);
        assert_eq!(meter.check(&limits, org, "cy@a.test", 1).unwrap_err().kind, AlertKind::OrgOutboundLimit);
        // Another organisation is not affected.
        assert!(meter.check(&limits, Uuid::new_v4(), "ann@a.test", 1).is_ok());
    }

    #[test]
    fn the_other_nodes_counts_of_this_hour_and_day_count_towards_a_limit() {
        let meter = OutboundMeter::default();
        let org = Uuid::new_v4();
        let limits =
            OutboundLimits { user_messages_per_hour: 2, user_recipients_per_day: 10, ..OutboundLimits::default() };
        let t = now();
        let key = format!("{org}/ann@a.test");
        let elsewhere = |hour, day_recipients| OutboundCount {
            key: key.clone(),
            hour,
            hour_messages: 1,
            day: t / 86_400,
            day_messages: 1,
            day_recipients,
        };
        // Another node's message of a past hour counts for the day only.
        meter.others.insert(key.clone(), elsewhere(t / 3600 - 1, 8));
        meter.record(org, "ann@a.test", 1);
        assert!(meter.check(&limits, org, "ann@a.test", 1).is_ok());
        let over = meter.check(&limits, org, "ann@a.test", 2).unwrap_err();
        assert!(over.detail.contains("9 recipients today"), "{over:?}");
        // One of this hour makes two with ours.
        meter.others.insert(key.clone(), elsewhere(t / 3600, 1));
        let over = meter.check(&limits, org, "ann@a.test", 1).unwrap_err();
        assert!(over.detail.contains("2 messages in this hour"), "{over:?}");
        // What this node counted waits to be pushed, with its windows.
        let dirty = meter.dirty.lock().unwrap().clone();
        assert_eq!(dirty, HashSet::from([key.clone(), org.to_string()]));
        let w = meter.windows.get(&key).unwrap();
        let pushed = w.lock().unwrap().count(&key);
        assert_eq!((pushed.hour, pushed.hour_messages, pushed.day_recipients), (t / 3600, 1, 1));
    }

    #[test]
    fn a_jump_in_a_senders_hourly_volume_raises_an_alert_once_past_the_threshold() {
        let meter = OutboundMeter::default();
        let org = Uuid::new_v4();
        let alerts: Vec<RaisedAlert> = (0..JUMP_MIN).filter_map(|_| meter.record(org, "ann@a.test", 1)).collect();
        assert_eq!(alerts.len(), 1, "only the message that crosses the threshold: {alerts:?}");
        assert_eq!((alerts[0].kind, alerts[0].blocks), (AlertKind::VolumeJump, false));
        assert!(alerts[0].detail.starts_with(&format!("{JUMP_MIN} messages in this hour")), "{alerts:?}");
        // A sender whose usual is high is not a jump at the same count.
        let w = meter.window(format!("{org}/bulk@a.test"));
        w.lock().unwrap().usual = 100.0;
        w.lock().unwrap().hour = now() / 3600;
        assert!((0..JUMP_MIN).all(|_| meter.record(org, "bulk@a.test", 1).is_none()));
    }
}
