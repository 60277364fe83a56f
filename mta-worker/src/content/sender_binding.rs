//! The sender binding of outbound mail in its content: every `From:` address must be on a
//! domain of the relaying organisation.

use crate::envelope::routing::AcceptedRcpt;
use crate::policy::PolicyIndex;

/// Outbound mail must also show one of the relaying organisation's own domains (with its
/// outbound switch on) in `From:`, so a customer server cannot send as another tenant or as
/// a bank whose SPF happens to include Moat. Bounces (null sender) are exempt: a customer's
/// server writes them as itself. Answers the refusal, if any.
pub fn foreign_from(
    policy: &PolicyIndex,
    sender: &str,
    rcpts: &[AcceptedRcpt],
    parsed: Option<&mail_parser::Message<'_>>,
) -> Option<String> {
    let org = rcpts.iter().find(|r| !r.inbound).and_then(|r| r.org_id)?;
    if sender.is_empty() {
        return None;
    }
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
pub fn is_automatic(m: &mail_parser::Message<'_>) -> bool {
    let header = |name: &str| m.header(name).and_then(|v| v.as_text()).map(|t| t.trim().to_lowercase());
    header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence").is_some_and(|v| ["bulk", "list", "junk"].contains(&v.as_str()))
        || m.header("List-Id").is_some()
}
