//! EHLO/HELO and STARTTLS: who the client says it is, and what we offer it.

use super::{Next, Session};

pub fn ehlo(session: &mut Session, host: String, extended: bool) -> Next {
    let host = host.trim().to_string();
    if host.is_empty() || host.len() > 255 {
        session.reply(501, "5.5.4", "EHLO needs a host name");
        return Next::Continue;
    }
    session.reset_transaction();
    session.helo = Some(host.clone());
    session.esmtp = extended;
    let me = session.worker.config.hostname.clone();
    if !extended {
        session.reply_lines(250, &[me]);
        // HELO answers carry no enhanced status code.
        return Next::Continue;
    }
    let mut lines = vec![
        format!("{me} Hello {host} [{}]", session.peer.ip()),
        "PIPELINING".into(),
        format!("SIZE {}", session.max_message_size()),
        "8BITMIME".into(),
        "SMTPUTF8".into(),
        "ENHANCEDSTATUSCODES".into(),
        "CHUNKING".into(),
    ];
    if !session.tls && session.worker.tls.is_some() {
        lines.push("STARTTLS".into());
    }
    session.reply_lines(250, &lines);
    Next::Continue
}

pub fn starttls(session: &mut Session) -> Next {
    if session.tls {
        session.reply(503, "5.5.1", "TLS already active");
        return Next::Continue;
    }
    if session.worker.tls.is_none() {
        session.reply(454, "4.7.0", "TLS not available");
        return Next::Continue;
    }
    session.reply(220, "2.0.0", "Ready to start TLS");
    Next::StartTls
}
