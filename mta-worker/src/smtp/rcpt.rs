//! RCPT TO: each recipient is routed and checked by the envelope stage
//! ([`crate::envelope::routing`]) against the transaction's one policy snapshot.

use smtp_proto::RcptTo;

use super::{Next, Session};
use crate::envelope::outbound::{outbound_limited, recipient_domain_allowed};
use crate::envelope::routing::{RcptContext, Refusal, decide, greylisted, listed, untag};

pub fn rcpt_to(session: &mut Session, to: RcptTo<String>) -> Next {
    if session.mail_from.is_none() {
        session.reply(503, "5.5.1", "Need MAIL before RCPT");
        return Next::Continue;
    }
    if session.rcpts.len() >= session.worker.config.max_recipients {
        session.reply(452, "4.5.3", "Too many recipients");
        return Next::Continue;
    }
    let address = to.address.trim().to_string();
    let policy = session.policy();
    let sender = session.mail_from.clone().unwrap_or_default();
    let ctx = RcptContext { policy: &policy, peer: session.peer.ip(), sender: &sender, trusted: session.trusted };
    let worker = session.worker.clone();
    let outside = session.rcpts.iter().filter(|r| !r.inbound).count();
    let untagged = untag(ctx, &worker.batv, &address);
    let address = untagged.as_ref().map(|(a, _)| a.clone()).unwrap_or(address);
    let tagged_bounce = untagged.as_ref().is_ok_and(|(_, t)| *t);
    match untagged
        .and_then(|_| decide(ctx, &address))
        .map(|mut rcpt| {
            rcpt.tagged_bounce = tagged_bounce;
            rcpt
        })
        .and_then(|rcpt| recipient_domain_allowed(ctx, rcpt))
        .and_then(|rcpt| listed(ctx, rcpt))
        .and_then(|rcpt| greylisted(ctx, &worker.greylist, &worker.config, rcpt))
        .and_then(|rcpt| outbound_limited(ctx, &worker.outbound, &worker.api, outside + 1, rcpt))
    {
        Ok(rcpt) => {
            // The transaction's limit is the smallest of its recipients' (one DATA for all).
            let limit = rcpt.policy(&policy).message_size_limit(session.size_limit);
            if session.declared_size > limit {
                tracing::info!(rcpt = %address, declared = session.declared_size, limit, "recipient refused: message too big");
                session.reply(552, "5.3.4", &format!("Message too big for <{address}> (at most {limit} bytes)"));
                return Next::Continue;
            }
            session.size_limit = limit;
            if session.rcpts.iter().any(|r| r.address == rcpt.address) {
                session.reply(250, "2.1.5", "Recipient ok (duplicate)");
            } else {
                session.rcpts.push(rcpt);
                session.reply(250, "2.1.5", "Recipient ok");
            }
        }
        Err(Refusal(code, esc, text)) => {
            tracing::info!(rcpt = %address, code, "recipient refused");
            session.worker.metrics.refused_recipients.inc();
            session.reply(code, esc, &text);
        }
    }
    Next::Continue
}
