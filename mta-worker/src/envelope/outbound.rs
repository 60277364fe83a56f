//! Outbound sending limits (the relaying organisation's policy): messages per hour and per
//! day for each sender address and for the whole organisation, recipients per message and
//! per day for each sender. This node counts what passes through it over fixed hourly and
//! daily windows (UTC); an account over a limit raises an alert at the API, which mails the
//! organisation's admins and, when the action is `block`, lists the sender in every worker's
//! snapshot until an admin clears it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat_openapi::{AlertBatch, AlertKind, OutboundLimitAction, OutboundLimits, RaisedAlert};
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

/// This node's counters; bounded (a million senders, each forgotten a day after its last
/// message).
#[derive(Clone)]
pub struct OutboundMeter {
    windows: moka::sync::Cache<String, Arc<Mutex<Window>>>,
    /// Alerts raised from here recently (the API keeps one open alert per subject anyway).
    raised: moka::sync::Cache<String, ()>,
}

impl Default for OutboundMeter {
    fn default() -> Self {
        OutboundMeter {
            windows: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
            raised: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(600)).build(),
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
        {
            let user = self.window(format!("{org}/{sender}"));
            let mut w = user.lock().unwrap_or_else(|e| e.into_inner());
            w.roll(t);
            if limits.user_messages_per_hour > 0 && w.hour_messages >= limits.user_messages_per_hour {
                return over(format!(
                    "{} messages in this hour, the limit is {}",
                    w.hour_messages, limits.user_messages_per_hour
                ));
            }
            if limits.user_messages_per_day > 0 && w.day_messages >= limits.user_messages_per_day {
                return over(format!(
                    "{} messages today, the limit is {}",
                    w.day_messages, limits.user_messages_per_day
                ));
            }
            if limits.user_recipients_per_day > 0 && w.day_recipients + nth > limits.user_recipients_per_day {
                return over(format!(
                    "{} recipients today, the limit is {}",
                    w.day_recipients, limits.user_recipients_per_day
                ));
            }
        }
        let whole = self.window(org.to_string());
        let mut w = whole.lock().unwrap_or_else(|e| e.into_inner());
        w.roll(t);
        let over_org = |detail: String| Err(Exceeded { kind: AlertKind::OrgOutboundLimit, detail });
        if limits.org_messages_per_hour > 0 && w.hour_messages >= limits.org_messages_per_hour {
            return over_org(format!(
                "the organisation sent {} messages in this hour, the limit is {}",
                w.hour_messages, limits.org_messages_per_hour
            ));
        }
        if limits.org_messages_per_day > 0 && w.day_messages >= limits.org_messages_per_day {
            return over_org(format!(
                "the organisation sent {} messages today, the limit is {}",
                w.day_messages, limits.org_messages_per_day
            ));
        }
        Ok(())
    }

    /// Counts an accepted message of `sender` with `recipients` outside recipients; answers
    /// an alert when the sender's volume this hour jumped far above its usual.
    pub fn record(&self, org: Uuid, sender: &str, recipients: usize) -> Option<RaisedAlert> {
        let t = now();
        let recipients = u32::try_from(recipients).unwrap_or(u32::MAX);
        let mut jump = None;
        for (key, rcpts) in [(format!("{org}/{sender}"), recipients), (org.to_string(), 0)] {
            let window = self.window(key);
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            w.roll(t);
            w.hour_messages = w.hour_messages.saturating_add(1);
            w.day_messages = w.day_messages.saturating_add(1);
            w.day_recipients = w.day_recipients.saturating_add(rcpts);
            let threshold = (w.usual * JUMP_FACTOR).max(f64::from(JUMP_MIN));
            if jump.is_none() && rcpts > 0 && f64::from(w.hour_messages) >= threshold {
                jump = Some(RaisedAlert {
                    org_id: org,
                    kind: AlertKind::VolumeJump,
                    subject: sender.to_string(),
                    detail: format!(
                        "{} messages in this hour where about {:.0} per hour is usual; alert only",
                        w.hour_messages, w.usual
                    ),
                    blocks: false,
                });
            }
        }
        jump
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
