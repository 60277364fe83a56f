//! The accept step of a complete message, as a list of named steps: parse it once, check
//! the outbound sender binding, judge inbound mail (authentication, content), split the
//! recipients into routes and decide each, stamp the headers, make held copies durable for
//! the quarantine and kept copies durable in the spool, record events, and learn from it.

use chrono::Utc;
use moat_openapi::{Direction, Verdict};

use super::Session;
use crate::common::error::WorkerResult;
use crate::content::authn::{Envelope, authenticate, strip_forged_headers};
use crate::content::scan::{Context, Scored};
use crate::content::sender_binding::{foreign_from, is_automatic};
use crate::delivery::spool::{QueuedMessage, new_id};
use crate::upstream::uploads::{HeldCopy, HeldRecipient};
use crate::verdict::routes::build_routes;
use crate::verdict::{Judged, Outcome, split_routes, verdict_headers};

fn received_header(session: &Session, id: &str) -> String {
    let with = match (session.esmtp, session.tls) {
        (true, true) => "ESMTPS",
        (true, false) => "ESMTP",
        (false, true) => "SMTPS",
        (false, false) => "SMTP",
    };
    let helo = session.helo.clone().unwrap_or_default();
    let for_rcpt = match session.rcpts.as_slice() {
        [only] => format!("\r\n\tfor <{}>", only.address),
        _ => String::new(),
    };
    format!(
        "Received: from {helo} ([{}])\r\n\tby {} (Moat) with {with} id {id}{for_rcpt};\r\n\t{}\r\n",
        session.peer.ip(),
        session.worker.config.hostname,
        Utc::now().to_rfc2822()
    )
}

/// The headers-level facts of a message, from its one parse.
struct Summary {
    subject: String,
    message_id: String,
    /// An auto-reply or list mail (teaches no reverse-whitelist pairs).
    automatic: bool,
    attachments: Vec<crate::content::attachments::FileName>,
}

fn summarize(parsed: Option<&mail_parser::Message<'_>>, inbound: bool) -> Summary {
    let Some(m) = parsed else {
        return Summary {
            subject: String::new(),
            message_id: String::new(),
            automatic: false,
            attachments: Vec::new(),
        };
    };
    Summary {
        subject: moat_openapi::bounded(m.subject().unwrap_or_default(), moat_openapi::MAX_SUBJECT_CHARS),
        message_id: moat_openapi::bounded(m.message_id().unwrap_or_default(), moat_openapi::MAX_MESSAGE_ID_CHARS),
        automatic: is_automatic(m),
        attachments: if inbound { crate::content::attachments::file_names(m) } else { Vec::new() },
    }
}

/// What became of a complete message.
pub enum Accepted {
    /// Durable under this spool id: answer 250.
    Queued(String),
    /// Refused with this reason: answer 550 (anything held is durable all the same).
    Refused(String),
}

/// Spools (or quarantines) the message, or refuses it.
pub async fn accept(session: &mut Session, body: Vec<u8>) -> WorkerResult<Accepted> {
    let id = new_id();
    let inbound = session.rcpts.iter().any(|r| r.inbound);
    // Inbound mail may not arrive looking already judged by us.
    let body = if inbound { strip_forged_headers(&body, &session.worker.config.hostname) } else { body };
    let outbound_threshold = outbound_threshold(session);
    let full_parse = inbound || outbound_threshold.is_some();
    // One parse: the whole MIME tree for mail whose content is judged (attachment policy),
    // headers otherwise.
    let parsed = if full_parse {
        mail_parser::MessageParser::default().parse(&body)
    } else {
        mail_parser::MessageParser::new().parse_headers(&body)
    };
    let sender = session.mail_from.clone().unwrap_or_default();
    if let Some(reason) = foreign_from(&session.policy(), &sender, &session.rcpts, parsed.as_ref()) {
        return Ok(Accepted::Refused(reason));
    }
    let summary = summarize(parsed.as_ref(), full_parse);
    let judged = match outbound_threshold {
        _ if inbound => Some(judge(session, &id, &body, parsed.as_ref()).await),
        Some(threshold) if threshold > 0.0 => Some(score_outbound(session, &id, &body, parsed.as_ref())),
        _ => None,
    };
    drop(parsed); // The MIME tree is not needed past here (large messages).
    let mut msg = queued_message(session, &id, &body, &summary, judged.as_ref());
    let routes = std::mem::take(&mut msg.routes);
    let outcome = split_routes(&session.policy(), &session.rcpts, routes, judged.as_ref(), &summary.attachments);
    msg.routes = outcome.kept.iter().map(|(route, _)| route.clone()).collect();
    let stamp = stamp_headers(session, &id, judged.as_ref());
    store_held(session, &outcome, &msg, &stamp, judged.as_ref(), &body).await?;
    if !msg.routes.is_empty() {
        let mut raw = stamp.into_bytes();
        // Outbound mail leaves without our verdict headers (they are for the customer's users).
        raw.extend_from_slice(verdict_headers(judged.as_ref().filter(|_| inbound), Verdict::Deliver).as_bytes());
        raw.extend_from_slice(&body);
        session.worker.spool.store(&msg, raw).await?;
        // The message is safe already: a copy the archive misses costs no mail.
        if let Err(err) = session.worker.archive.keep(&session.worker.spool, &msg).await {
            tracing::warn!(%err, %id, "cannot keep the archive copy");
        }
    }
    // The message is durable now; a failed event write is logged by the outbox.
    let _ = session.worker.outbox.record(tracking_events(&msg, &outcome)).await;
    count_outcome(session, outcome.verdict());
    if msg.routes.is_empty() {
        session.worker.queue.watched().report(&msg.message_id, || not_queued(&outcome));
    }
    tracing::info!(%id, size = msg.size, rcpts = session.rcpts.len(), "message accepted");
    if !msg.routes.is_empty() {
        session.worker.queue.enqueue(&msg);
    }
    if let Some(reason) = outcome.refusal() {
        return Ok(Accepted::Refused(format!("Message refused: {reason}")));
    }
    remember_outbound(session, &msg, &summary);
    Ok(Accepted::Queued(id))
}

/// The spool's record of the message, one route per destination and list treatment.
fn queued_message(
    session: &Session,
    id: &str,
    body: &[u8],
    summary: &Summary,
    judged: Option<&Judged>,
) -> QueuedMessage {
    let now = Utc::now();
    let authenticated = judged.and_then(|j| j.auth.as_ref()).is_some_and(|a| a.authenticated);
    let inbound = session.rcpts.iter().any(|r| r.inbound);
    QueuedMessage {
        id: id.to_string(),
        received_at: now,
        sender: session.mail_from.clone().unwrap_or_default(),
        client_ip: session.peer.ip().to_string(),
        helo: session.helo.clone().unwrap_or_default(),
        direction: if inbound { Direction::Inbound } else { Direction::Outbound },
        size: body.len(),
        subject: summary.subject.clone(),
        message_id: summary.message_id.clone(),
        routes: build_routes(&session.rcpts, id, now, authenticated),
    }
}

/// `Received:` and, for inbound mail, our `Authentication-Results:`.
fn stamp_headers(session: &Session, id: &str, judged: Option<&Judged>) -> String {
    let mut stamp = received_header(session, id);
    if let Some(auth) = judged.and_then(|j| j.auth.as_ref()) {
        stamp.push_str(&auth.header);
    }
    stamp
}

/// Makes every held copy durable for the uploader: one file per held route, whatever its
/// number of recipients.
async fn store_held(
    session: &Session,
    outcome: &Outcome,
    msg: &QueuedMessage,
    stamp: &str,
    judged: Option<&Judged>,
    body: &[u8],
) -> WorkerResult<()> {
    if outcome.held.is_empty() {
        return Ok(());
    }
    let mut held_raw = stamp.as_bytes().to_vec();
    let inbound = msg.direction == Direction::Inbound;
    held_raw.extend_from_slice(verdict_headers(judged.filter(|_| inbound), Verdict::Quarantine).as_bytes());
    held_raw.extend_from_slice(body);
    let raw_base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &held_raw);
    let policy = session.policy();
    let user = |address: &str| policy.recipient(address).map(|r| r.user_id);
    for (route, reasons) in &outcome.held {
        let Some(org_id) = route.org_id else { continue };
        let Some(first) = route.recipients.first() else { continue };
        let upload_id = |n: usize| format!("{}-{}", route.tracking_id, n + 1);
        let copy = HeldCopy {
            upload: moat_openapi::QuarantineUpload {
                id: upload_id(0),
                org_id,
                user_id: user(&first.address),
                recipient: first.address.clone(),
                sender: msg.sender.clone(),
                subject: msg.subject.clone(),
                message_id: msg.message_id.clone(),
                score: judged.map(|j| j.scored.score).unwrap_or_default(),
                reasons: reasons.clone(),
                received_at: msg.received_at,
                raw_base64: raw_base64.clone(),
                direction: msg.direction,
            },
            others: route
                .recipients
                .iter()
                .enumerate()
                .skip(1)
                .map(|(n, rcpt)| HeldRecipient {
                    id: upload_id(n),
                    recipient: rcpt.address.clone(),
                    user_id: user(&rcpt.address),
                })
                .collect(),
        };
        session.worker.uploads.store(&copy).await?;
    }
    Ok(())
}

/// A `received` and a `verdict` event for every copy.
fn tracking_events(msg: &QueuedMessage, outcome: &Outcome) -> Vec<moat_openapi::MessageEvent> {
    outcome.copies().flat_map(|(route, verdict, reasons)| msg.arrival_events(route, verdict, reasons.clone())).collect()
}

/// Metrics and the client's reputation learn the outcome.
fn count_outcome(session: &Session, verdict: Verdict) {
    session.worker.metrics.message(verdict);
    let rejected = verdict != Verdict::Deliver;
    session.worker.reputation.record(session.peer.ip(), true, |r| {
        r.messages += 1;
        r.rejected += i64::from(rejected);
    });
}

/// What accepted outbound mail teaches: the reverse whitelist (not from auto-replies) and
/// the Message-IDs a bounce may quote.
fn remember_outbound(session: &Session, msg: &QueuedMessage, summary: &Summary) {
    let outside: Vec<_> = session.rcpts.iter().filter(|r| !r.inbound).collect();
    if let Some(org) = outside.first().and_then(|r| r.org_id).filter(|_| !msg.sender.is_empty())
        && let Some(jump) = session.worker.outbound.record(org, &msg.sender.to_lowercase(), outside.len())
    {
        tracing::warn!(%org, sender = %msg.sender, detail = %jump.detail, "outbound volume jump");
        session.worker.outbound.raise(&session.worker.api, jump);
    }
    if !summary.automatic {
        learn_correspondents(session, &msg.sender);
    }
    if msg.direction == Direction::Outbound && !msg.message_id.is_empty() {
        session.worker.sent_ids.insert(msg.message_id.clone(), ());
    }
}

/// Why a watched message was not queued: each copy's verdict and reasons.
fn not_queued(outcome: &Outcome) -> crate::delivery::watch::Watched {
    let why: Vec<String> = outcome
        .copies()
        .map(|(_, verdict, reasons)| format!("{}: {}", moat_openapi::wire_name(&verdict), reasons.join("; ")))
        .collect();
    crate::delivery::watch::Watched::NotQueued(why.join(" | "))
}

/// Authenticates and scores an inbound message: SPF/DKIM/ARC/DMARC, rules, the classifier of
/// the (first) recipient organisation, the DNSBL points of the connection, rspamd if configured.
async fn judge(session: &Session, id: &str, body: &[u8], parsed: Option<&mail_parser::Message<'_>>) -> Judged {
    let worker = &session.worker;
    let mail_from = session.mail_from.clone().unwrap_or_default();
    let helo = session.helo.clone().unwrap_or_default();
    let envelope = Envelope { ip: session.peer.ip(), helo: &helo, mail_from: &mail_from };
    // The node's own test message has no sender to authenticate (it is ours).
    let auth = if worker.config.authentication && !session.local {
        Some(authenticate(&worker.authenticator, &worker.config.hostname, &envelope, body, parsed).await)
    } else {
        None
    };
    let rspamd = match &worker.rspamd {
        Some(rspamd) => {
            let rcpts: Vec<&str> = session.rcpts.iter().map(|r| r.address.as_str()).collect();
            rspamd.check(&envelope, &rcpts, id, body).await
        }
        None => None,
    };
    let context = Context {
        auth: auth.as_ref(),
        dnsbl_score: f64::from(session.dnsbl_score),
        org_id: session.rcpts.iter().find(|r| r.inbound).and_then(|r| r.org_id),
        rspamd,
    };
    let scored = scan(session, id, body, parsed, &context);
    Judged { scored, auth }
}

/// Content scoring; a message that trips a bug in a rule must still be answered (scored 0),
/// not hang the sender.
fn scan(
    session: &Session,
    id: &str,
    body: &[u8],
    parsed: Option<&mail_parser::Message<'_>>,
    context: &Context,
) -> Scored {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        session.worker.scanner.score(body, parsed, context, Utc::now())
    }))
    .unwrap_or_else(|_| {
        tracing::error!(%id, "the content scan failed on this message; not scored");
        Scored::default()
    })
}

/// The organisation relaying this outbound mail, if any.
fn relaying_org(session: &Session) -> Option<uuid::Uuid> {
    session.rcpts.iter().find(|r| !r.inbound).and_then(|r| r.org_id)
}

/// The relaying organisation's outbound spam threshold (0: not scored), when its outbound
/// content rules judge the message at all (the rules themselves are applied per route).
fn outbound_threshold(session: &Session) -> Option<f64> {
    let policy = session.policy();
    let rules = &policy.org_policy(relaying_org(session)?)?.outbound_content;
    rules.checks_content().then_some(rules.quarantine_threshold)
}

/// Scores an outbound message's content with the relaying organisation's classifier (no
/// authentication or DNS lists: the sender is the customer's own server).
fn score_outbound(session: &Session, id: &str, body: &[u8], parsed: Option<&mail_parser::Message<'_>>) -> Judged {
    let context = Context { auth: None, dnsbl_score: 0.0, org_id: relaying_org(session), rspamd: None };
    Judged { scored: scan(session, id, body, parsed, &context), auth: None }
}

/// Outbound mail from a customer's user makes its external recipients trusted senders for
/// that user (reverse whitelist). Best effort: a lost pair costs no mail.
fn learn_correspondents(session: &Session, sender: &str) {
    if sender.is_empty() {
        return;
    }
    // Only mail that passed the sender binding teaches, and only for the relaying organisation.
    let relaying = relaying_org(session);
    let policy = session.policy();
    let Some(user) = policy.recipient(&sender.to_lowercase()).filter(|r| Some(r.org_id) == relaying).map(|r| r.user_id)
    else {
        return;
    };
    let pairs: Vec<moat_openapi::Correspondent> = session
        .rcpts
        .iter()
        .filter(|r| !r.inbound)
        .map(|r| moat_openapi::Correspondent { user_id: user, address: r.address.to_lowercase() })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let api = session.worker.api.clone();
    tokio::spawn(async move {
        let batch = moat_openapi::CorrespondentBatch { correspondents: pairs };
        let mut backoff =
            crate::common::backoff::Backoff::new(std::time::Duration::from_secs(1), std::time::Duration::from_secs(16));
        for attempt in 0..5u32 {
            match api.post_correspondents(&batch).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::debug!(%err, attempt, "cannot record correspondents yet");
                    backoff.wait().await;
                }
            }
        }
    });
}
