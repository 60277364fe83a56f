//! DATA and BDAT: receive the message, apply the bare-newline rule and back-scatter
//! protection, hand it to the accept step, and only once it is durable answer `250`.

use super::accept::{Accepted, accept};
use super::{Next, Session};
use crate::common::config::BareNewlines;
use crate::envelope::backscatter::backscatter;

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
    let sender = session.mail_from.clone().unwrap_or_default();
    if let Some(reason) = backscatter(&session.policy(), &sender, &session.rcpts, &session.worker.sent_ids, &raw) {
        tracing::info!(%reason, "bounce refused");
        record_refusal(session, &reason).await;
        session.reply(550, "5.7.1", &reason);
        session.reset_transaction();
        return;
    }
    match accept(session, raw).await {
        Ok(Accepted::Queued(id)) => session.reply(250, "2.0.0", &format!("Ok: queued as {id}")),
        Ok(Accepted::Refused(reason)) => {
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

/// A refused bounce is tracked (and counted in its organisation's statistics) like a
/// connection refused at the greeting.
async fn record_refusal(session: &Session, reason: &str) {
    use moat_openapi::{EventDetail, EventKind};
    let org = session.rcpts.iter().find(|r| r.inbound).and_then(|r| r.org_id);
    let detail = EventDetail {
        direction: Some(moat_openapi::Direction::Inbound),
        sender: Some(String::new()),
        recipients: session.rcpts.iter().map(|r| r.address.clone()).take(moat_openapi::MAX_EVENT_RECIPIENTS).collect(),
        client_ip: Some(session.peer.ip().to_string()),
        subject: Some(String::new()),
        response: Some(format!("550 5.7.1 {reason}")),
        reasons: vec![reason.to_string()],
        ..Default::default()
    };
    let id = format!("bounce-{}", uuid::Uuid::new_v4().simple());
    let events = vec![
        crate::upstream::outbox::event(&id, EventKind::Received, org, detail.clone()),
        crate::upstream::outbox::event(&id, EventKind::Refused, org, detail),
    ];
    let _ = session.worker.outbox.record(events).await;
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
