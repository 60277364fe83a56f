//! DATA and BDAT: receive the message, apply the bare-newline rule, stamp `Received:`,
//! decide the verdict, write it durably to the spool, and only then answer `250`.

use chrono::Utc;
use moat_openapi::{Direction, EventDetail, EventKind};

use super::verdict::{Judged, Outcome, build_routes, split_routes, verdict_headers};
use super::{Next, Session};
use crate::config::BareNewlines;
use crate::outbox::event;
use crate::scan::{Context, Scored, Verdict};
use crate::spool::{QueuedMessage, new_id};

pub fn start_data(session: &mut Session) -> Next {
    if session.mail_from.is_none() {
        session.reply(503, "5.5.1", "Need MAIL before DATA");
        return Next::Continue;
    }
    if session.rcpts.is_empty() {
        session.reply(554, "5.5.1", "No valid recipients");
        return Next::Continue;
    }
    session.data.clear();
    session.replies_mut().extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
    Next::StartData
}

/// Checks a BDAT chunk may be received; the error is the reply to send after swallowing it.
pub fn start_bdat(session: &mut Session, chunk_size: usize) -> Result<(), &'static str> {
    if session.mail_from.is_none() || session.bdat_failed {
        session.bdat_failed = true;
        return Err("503 5.5.1 Need MAIL before BDAT");
    }
    if session.rcpts.is_empty() {
        session.bdat_failed = true;
        return Err("554 5.5.1 No valid recipients");
    }
    if session.data.len().saturating_add(chunk_size) > session.size_limit {
        session.bdat_failed = true;
        return Err("552 5.3.4 Message too big");
    }
    Ok(())
}

pub async fn bdat_chunk_done(session: &mut Session, last: bool) {
    if last {
        finish(session).await;
    } else {
        let n = session.data.len();
        session.reply(250, "2.0.0", &format!("{n} octets received"));
    }
}

/// Whether `raw` has a LF not preceded by CR, or a CR not followed by LF.
fn has_bare_newline(raw: &[u8]) -> bool {
    // Visits only the line ends (memchr), not every byte: this runs on every message.
    memchr::memchr2_iter(b'\r', b'\n', raw).any(|i| match raw[i] {
        b'\n' => i == 0 || raw[i - 1] != b'\r',
        _ => raw.get(i + 1) != Some(&b'\n'),
    })
}

/// Turns every bare LF or CR into CRLF.
fn normalize_newlines(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Authenticates and scores an inbound message: SPF/DKIM/ARC/DMARC, rules, the classifier of
/// the (first) recipient organisation, the DNSBL points of the connection, rspamd if configured.
async fn judge(session: &Session, id: &str, body: &[u8], parsed: Option<&mail_parser::Message<'_>>) -> Judged {
    let worker = &session.worker;
    let mail_from = session.mail_from.clone().unwrap_or_default();
    let helo = session.helo.clone().unwrap_or_default();
    let envelope = crate::authn::Envelope { ip: session.peer.ip(), helo: &helo, mail_from: &mail_from };
    let auth = if worker.config.authentication {
        Some(crate::authn::authenticate(&worker.authenticator, &worker.config.hostname, &envelope, body).await)
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
    // A message that trips a bug in a rule must still be answered, not hang the sender.
    let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        worker.scanner.score(body, parsed, &context, Utc::now())
    }))
    .unwrap_or_else(|_| {
        tracing::error!(%id, "the content scan failed on this message; judged by authentication only");
        Scored::default()
    });
    Judged { scored, auth }
}

/// Back-scatter protection: a bounce (null sender) to a user must answer mail Moat sent —
/// either through a BATV-tagged recipient, or by quoting a Message-ID this node relayed
/// outbound. Answers the refusal, if any.
fn backscatter(session: &Session, raw: &[u8]) -> Option<String> {
    if session.mail_from.as_deref() != Some("") {
        return None;
    }
    let policy = session.policy();
    let protected = |r: &super::AcceptedRcpt| {
        r.inbound
            && !r.tagged_bounce
            && r.org_id.and_then(|o| policy.org_policy(o).map(|p| p.backscatter_protection)).unwrap_or(true)
    };
    if !session.rcpts.iter().any(protected) {
        return None;
    }
    let sent = &session.worker.sent_ids;
    let text = String::from_utf8_lossy(raw);
    let quotes_ours = text.lines().filter_map(|l| {
        let lower = l.to_ascii_lowercase();
        let at = lower.find("message-id:")?;
        let value = l[at + "message-id:".len()..].trim();
        Some(value.trim_matches(|c| c == '<' || c == '>').to_string())
    });
    let mut quotes_ours = quotes_ours;
    if quotes_ours.any(|id| sent.contains_key(&id)) {
        return None;
    }
    Some("Bounce for a message we never sent (back-scatter) refused".into())
}

/// Outbound mail must also show one of the relaying organisation's own domains (with its
/// outbound switch on) in `From:`, so a customer server cannot send as another tenant or as
/// a bank whose SPF happens to include Moat. Bounces (null sender) are exempt: a customer's
/// server writes them as itself. Answers the refusal, if any.
fn foreign_from(session: &Session, parsed: Option<&mail_parser::Message<'_>>) -> Option<String> {
    let org = session.rcpts.iter().find(|r| !r.inbound).and_then(|r| r.org_id)?;
    if session.mail_from.as_deref().unwrap_or_default().is_empty() {
        return None;
    }
    let policy = session.policy();
    let addresses: Vec<String> = parsed
        .and_then(|m| m.from())
        .map(|from| from.iter().filter_map(|a| a.address()).map(str::to_string).collect())
        .unwrap_or_default();
    if addresses.is_empty() {
        return Some("Outbound mail needs a From: header with an address of your organisation".into());
    }
    addresses.iter().find_map(|address| match policy.outbound_domain(address, &[org]) {
        Ok(_) => None,
        Err(why) => {
            tracing::info!(from = %address, %why, "outbound From: refused");
            Some(format!("From: <{address}>: {why}"))
        }
    })
}

/// Auto-replies and mailing-list traffic create no reverse-whitelist entries.
fn is_automatic(m: &mail_parser::Message<'_>) -> bool {
    let header = |name: &str| m.header(name).and_then(|v| v.as_text()).map(|t| t.trim().to_lowercase());
    header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence").is_some_and(|v| ["bulk", "list", "junk"].contains(&v.as_str()))
        || m.header("List-Id").is_some()
}

/// Outbound mail from a customer's user makes its external recipients trusted senders for
/// that user (reverse whitelist). Best effort: a lost pair costs no mail.
fn learn_correspondents(session: &Session, sender: &str) {
    if sender.is_empty() {
        return;
    }
    // Only mail that passed the sender binding teaches, and only for the relaying organisation.
    let relaying = session.rcpts.iter().find(|r| !r.inbound).and_then(|r| r.org_id);
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
            crate::backoff::Backoff::new(std::time::Duration::from_secs(1), std::time::Duration::from_secs(16));
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

/// The message is complete: check, spool, record, queue and answer.
pub async fn finish(session: &mut Session) {
    let mut raw = std::mem::take(&mut session.data);
    if has_bare_newline(&raw) {
        match session.worker.config.bare_newlines {
            BareNewlines::Reject => {
                tracing::info!("message refused: bare LF or CR");
                session.worker.reputation.record(session.peer.ip(), false, |r| r.rejected += 1);
                session.reply(550, "5.5.2", "Bare <LF> or <CR> not allowed; lines must end with <CR><LF>");
                session.reset_transaction();
                return;
            }
            BareNewlines::Normalize => raw = normalize_newlines(&raw),
            BareNewlines::Accept => {}
        }
    }
    if let Some(reason) = backscatter(session, &raw) {
        tracing::info!(%reason, "bounce refused");
        session.reply(550, "5.7.1", &reason);
        session.reset_transaction();
        return;
    }
    match accept(session, raw).await {
        Ok(Ok(id)) => session.reply(250, "2.0.0", &format!("Ok: queued as {id}")),
        Ok(Err(reason)) => {
            tracing::info!(%reason, "message refused");
            session.reply(550, "5.7.1", &reason);
        }
        Err(err) => {
            tracing::error!(%err, "cannot spool the message");
            session.reply(451, "4.3.0", "Local error in processing, try again later");
        }
    }
    session.reset_transaction();
}

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
    attachments: Vec<crate::attachments::FileName>,
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
        attachments: if inbound { crate::attachments::file_names(m) } else { Vec::new() },
    }
}

/// Spools (or quarantines) the message; `Ok(Err(reason))` refuses it with a 550 instead.
async fn accept(session: &mut Session, body: Vec<u8>) -> crate::error::WorkerResult<Result<String, String>> {
    let id = new_id();
    let inbound = session.rcpts.iter().any(|r| r.inbound);
    // Inbound mail may not arrive looking already judged by us.
    let body = if inbound { crate::authn::strip_forged_headers(&body, &session.worker.config.hostname) } else { body };
    // One parse: the whole MIME tree for inbound mail (attachment policy), headers otherwise.
    let parsed = if inbound {
        mail_parser::MessageParser::default().parse(&body)
    } else {
        mail_parser::MessageParser::new().parse_headers(&body)
    };
    if let Some(reason) = foreign_from(session, parsed.as_ref()) {
        return Ok(Err(reason));
    }
    let summary = summarize(parsed.as_ref(), inbound);
    let judged = if inbound { Some(judge(session, &id, &body, parsed.as_ref()).await) } else { None };
    drop(parsed); // The MIME tree is not needed past here (large messages).
    let mut msg = queued_message(session, &id, &body, &summary, judged.as_ref());
    let outcome = split_routes(session, std::mem::take(&mut msg.routes), judged.as_ref(), &summary.attachments);
    msg.routes = outcome.kept.iter().map(|(route, _)| route.clone()).collect();
    let stamp = stamp_headers(session, &id, judged.as_ref());
    store_held(session, &outcome, &msg, &stamp, judged.as_ref(), &body).await?;
    if !msg.routes.is_empty() {
        let mut raw = stamp.into_bytes();
        raw.extend_from_slice(verdict_headers(judged.as_ref(), Verdict::Deliver).as_bytes());
        raw.extend_from_slice(&body);
        session.worker.spool.store(&msg, raw).await?;
    }
    // The message is durable now; a failed event write is logged by the outbox.
    let _ = session.worker.outbox.record(tracking_events(&msg, &outcome)).await;
    count_outcome(session, outcome.verdict());
    tracing::info!(%id, size = msg.size, rcpts = session.rcpts.len(), "message accepted");
    if !msg.routes.is_empty() {
        session.worker.queue.enqueue(&msg);
    }
    if let Some(reason) = outcome.refusal() {
        return Ok(Err(format!("Message refused: {reason}")));
    }
    remember_outbound(session, &msg, &summary);
    Ok(Ok(id))
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
        routes: build_routes(session, id, now, authenticated),
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

/// Makes every held copy durable for the uploader: one per recipient of each held route.
async fn store_held(
    session: &Session,
    outcome: &Outcome,
    msg: &QueuedMessage,
    stamp: &str,
    judged: Option<&Judged>,
    body: &[u8],
) -> crate::error::WorkerResult<()> {
    if outcome.held.is_empty() {
        return Ok(());
    }
    let mut held_raw = stamp.as_bytes().to_vec();
    held_raw.extend_from_slice(verdict_headers(judged, Verdict::Quarantine).as_bytes());
    held_raw.extend_from_slice(body);
    let raw_base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &held_raw);
    let policy = session.policy();
    for (route, reasons) in &outcome.held {
        let Some(org_id) = route.org_id else { continue };
        for (n, rcpt) in route.recipients.iter().enumerate() {
            let upload = moat_openapi::QuarantineUpload {
                id: format!("{}-{}", route.tracking_id, n + 1),
                org_id,
                user_id: policy.recipient(&rcpt.address).map(|r| r.user_id),
                recipient: rcpt.address.clone(),
                sender: msg.sender.clone(),
                subject: msg.subject.clone(),
                message_id: msg.message_id.clone(),
                score: judged.map(|j| j.scored.score).unwrap_or_default(),
                reasons: reasons.clone(),
                received_at: msg.received_at,
                raw_base64: raw_base64.clone(),
            };
            session.worker.uploads.store(&upload).await?;
        }
    }
    Ok(())
}

/// A `received` and a `verdict` event for every copy.
fn tracking_events(msg: &QueuedMessage, outcome: &Outcome) -> Vec<moat_openapi::MessageEvent> {
    let mut events = Vec::new();
    for (route, verdict, reasons) in outcome.copies() {
        let detail = EventDetail {
            direction: Some(msg.direction),
            sender: Some(msg.sender.clone()),
            recipients: route.recipients.iter().map(|r| r.address.clone()).collect(),
            subject: Some(msg.subject.clone()),
            message_id: Some(msg.message_id.clone()),
            size: Some(msg.size as i64),
            client_ip: Some(msg.client_ip.clone()),
            ..Default::default()
        };
        events.push(event(&route.tracking_id, EventKind::Received, route.org_id, detail));
        let detail = EventDetail { verdict: Some(verdict), reasons: reasons.clone(), ..Default::default() };
        events.push(event(&route.tracking_id, EventKind::Verdict, route.org_id, detail));
    }
    events
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
    if !summary.automatic {
        learn_correspondents(session, &msg.sender);
    }
    if msg.direction == Direction::Outbound && !msg.message_id.is_empty() {
        session.worker.sent_ids.insert(msg.message_id.clone(), ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_newlines_are_found_and_normalised() {
        assert!(!has_bare_newline(b"a\r\nb\r\n"));
        assert!(has_bare_newline(b"a\nb\r\n"));
        assert!(has_bare_newline(b"a\rb\r\n"));
        assert!(has_bare_newline(b"\n.\n"));
        assert_eq!(normalize_newlines(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd".to_vec());
    }
}
