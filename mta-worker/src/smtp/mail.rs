//! MAIL FROM: the envelope sender of a new transaction.

use smtp_proto::{MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, MailFrom};

use super::{Next, Session};

pub fn mail_from(session: &mut Session, from: MailFrom<String>) -> Next {
    if session.helo.is_none() {
        session.reply(503, "5.5.1", "Say EHLO first");
        return Next::Continue;
    }
    if !session.trusted
        && session.worker.limits.messages.check_key(&crate::connection::limits::client_key(session.peer.ip())).is_err()
    {
        session.reply(421, "4.7.0", "Too many messages from your address, try again in 60 seconds");
        return Next::Close;
    }
    if session.mail_from.is_some() {
        session.reply(503, "5.5.1", "Nested MAIL command");
        return Next::Continue;
    }
    if from.flags & MAIL_BODY_BINARYMIME != 0 {
        session.reply(555, "5.5.4", "BINARYMIME is not supported");
        return Next::Continue;
    }
    // One snapshot for the whole transaction (released by RSET and after DATA).
    let policy = session.worker.policy.get();
    let size_limit = policy.max_message_size(session.worker.config.max_message_size);
    if from.size > size_limit {
        session.reply(552, "5.3.4", "Message too big");
        return Next::Continue;
    }
    let address = from.address.trim().to_string();
    if address.len() > 320 {
        session.reply(501, "5.1.7", "Sender address too long");
        return Next::Continue;
    }
    if !address.is_empty() && !address.contains('@') {
        session.reply(501, "5.1.7", "Sender address must be user@domain");
        return Next::Continue;
    }
    if !address.is_ascii() && from.flags & MAIL_SMTPUTF8 == 0 {
        session.reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
        return Next::Continue;
    }
    session.body_8bit = from.flags & MAIL_BODY_8BITMIME != 0;
    session.smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
    session.mail_from = Some(address);
    session.txn_policy = Some(policy);
    session.size_limit = size_limit;
    session.declared_size = from.size;
    session.reply(250, "2.1.0", "Sender ok");
    Next::Continue
}
