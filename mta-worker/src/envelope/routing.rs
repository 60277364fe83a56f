//! Routing: whose mail a recipient address is and where it goes. Mail is accepted only for
//! known users of customer domains (inbound) or from a customer's own servers (outbound):
//! never an open relay. Addresses are matched literally after lower-casing, so `%`-hacks,
//! source routes, quoted local parts and IP literals never reach a foreign destination.
//! The allow/block lists, greylisting and bounce-tag checks of a recipient are decided here
//! too, from explicit values of the transaction.

use std::net::IpAddr;

use moat_openapi::{ListKind, WorkerDomain};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::config::WorkerConfig;
use crate::envelope::batv::{self, Batv};
use crate::envelope::greylist::Greylist;
use crate::policy::PolicyIndex;
use crate::policy::lists::ListOutcome;

/// What is known of the transaction when a recipient is named.
#[derive(Clone, Copy)]
pub struct RcptContext<'a> {
    /// The snapshot taken for this transaction.
    pub policy: &'a PolicyIndex,
    pub peer: IpAddr,
    /// The envelope sender; empty for the null sender (bounces).
    pub sender: &'a str,
    /// The client is a known gateway.
    pub trusted: bool,
}

/// Where a message goes: a customer's own server (inbound), or the MX of a foreign domain
/// (outbound and bounces).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A customer domain; its destination is looked up again at each attempt, with these
    /// values as the fallback.
    Customer { domain: String, host: String, port: u16, tls: moat_openapi::TlsMode },
    /// Any other domain, delivered to its MX hosts.
    Mx { domain: String },
}

impl Target {
    pub fn key(&self) -> String {
        match self {
            Target::Customer { domain, .. } => format!("customer:{domain}"),
            Target::Mx { domain } => format!("mx:{domain}"),
        }
    }
}

/// A recipient accepted into the current transaction.
#[derive(Debug, Clone)]
pub struct AcceptedRcpt {
    pub address: String,
    pub org_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub target: Target,
    pub inbound: bool,
    /// What the allow/block lists say of the sender for this recipient.
    pub lists: ListOutcome,
    /// The recipient wrote to the sender recently (reverse whitelist).
    pub correspondent: bool,
    /// The sender is block-listed and the policy says drop: accepted, never delivered.
    pub dropped: bool,
    /// A bounce to a valid BATV-tagged address (it answers mail Moat sent).
    pub tagged_bounce: bool,
}

impl AcceptedRcpt {
    /// The policy that governs this recipient's mail: its domain's (the organisation's with
    /// the domain's own fields), else its organisation's, else the defaults.
    pub fn policy<'p>(&self, policy: &'p PolicyIndex) -> &'p moat_openapi::Policy {
        let domain = match &self.target {
            Target::Customer { domain, .. } => domain.as_str(),
            Target::Mx { .. } => "",
        };
        policy.effective_policy(domain, self.org_id)
    }
}

/// How the lists treat one recipient's copy, once it is known whether the sender is genuine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListTrust {
    /// Allowed: no spam verdict. `by_network`: by an IP/CIDR entry (which skips DMARC too).
    Allowed { by_network: bool },
    /// Blocked (a sender allow entry that would have won was not believed).
    Blocked,
    /// A sender allow entry (or the reverse whitelist) matched, but the sender is not
    /// authenticated: filtered as if it had not.
    Ignored,
    /// No entry matched.
    Unlisted,
}

/// The reason given when a sender allow entry is not believed.
pub const IGNORED_ALLOW: &str = "on your allow list, but the message is not really from them";

impl AcceptedRcpt {
    /// How the lists treat this copy when the sender is (or is not) `authenticated`.
    pub fn trust(&self, authenticated: bool) -> ListTrust {
        let believed = if authenticated { self.lists.authenticated } else { self.lists.unauthenticated };
        match believed {
            Some((ListKind::Allow, _)) => {
                ListTrust::Allowed { by_network: self.lists.unauthenticated.is_some_and(|(k, _)| k == ListKind::Allow) }
            }
            Some((ListKind::Block, _)) => ListTrust::Blocked,
            None if self.correspondent && authenticated => ListTrust::Allowed { by_network: false },
            None if self.correspondent || self.lists.authenticated.is_some() => ListTrust::Ignored,
            None => ListTrust::Unlisted,
        }
    }
}

/// Why a recipient was refused: the reply to send.
pub struct Refusal(pub u16, pub &'static str, pub String);

/// Splits `local@domain` at the last `@`, lower-casing the domain and dropping one
/// trailing dot; refuses anything else.
pub fn split_address(address: &str) -> Option<(String, String)> {
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_lowercase();
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some((local.to_string(), domain))
}

fn customer_target(d: &WorkerDomain) -> Target {
    Target::Customer {
        domain: d.name.clone(),
        host: d.destination_host.clone(),
        port: d.destination_port,
        tls: d.tls_mode,
    }
}

/// Where mail to `address` goes when Moat itself sends it (bounces): the customer's
/// server for customer domains, the domain's MX otherwise.
pub fn rcpt_target(policy: &PolicyIndex, address: &str) -> (Target, Option<Uuid>) {
    let domain = split_address(address).map(|(_, d)| d).unwrap_or_default();
    match policy.domain(&domain) {
        Some(d) => (customer_target(d), Some(d.org_id)),
        None => (Target::Mx { domain }, None),
    }
}

/// The routing decision for one recipient address.
pub fn decide(ctx: RcptContext, address: &str) -> Result<AcceptedRcpt, Refusal> {
    let policy = ctx.policy;
    if !policy.loaded {
        return Err(Refusal(451, "4.3.0", "Policy not loaded yet, try again later".into()));
    }
    let Some((local, domain)) = split_address(address) else {
        return Err(Refusal(501, "5.1.3", format!("<{address}>: bad recipient address")));
    };
    if let Some(d) = policy.domain(&domain) {
        if !d.inbound_enabled {
            return Err(Refusal(550, "5.7.1", format!("<{address}>: this domain does not accept mail here")));
        }
        let full = format!("{}@{domain}", local.to_lowercase());
        return match policy.recipient(&full) {
            Some(r) => Ok(AcceptedRcpt {
                address: full,
                org_id: Some(r.org_id),
                user_id: Some(r.user_id),
                domain_id: Some(d.id),
                target: customer_target(d),
                inbound: true,
                lists: ListOutcome::default(),
                correspondent: false,
                dropped: false,
                tagged_bounce: false,
            }),
            None => Err(Refusal(550, "5.1.1", format!("<{address}>: user unknown"))),
        };
    }
    // Outbound: only a customer's own server, and only as its organisation's domains.
    let sender = ctx.sender;
    let org = match policy.sending_org(ctx.peer, sender) {
        Ok(Some(org)) => org,
        Ok(None) => return Err(Refusal(550, "5.7.1", format!("<{address}>: relaying denied"))),
        Err(why) => {
            tracing::info!(%sender, %why, "relay client refused for this sender");
            return Err(Refusal(550, "5.7.1", format!("<{sender}>: relaying denied: {why}")));
        }
    };
    let literal = domain.starts_with('[') || domain.parse::<std::net::IpAddr>().is_ok();
    if literal || !domain.contains('.') {
        return Err(Refusal(550, "5.1.2", format!("<{address}>: cannot deliver to this domain")));
    }
    Ok(AcceptedRcpt {
        address: format!("{local}@{domain}"),
        org_id: Some(org),
        user_id: None,
        domain_id: None,
        target: Target::Mx { domain },
        inbound: false,
        lists: ListOutcome::default(),
        correspondent: false,
        dropped: false,
        tagged_bounce: false,
    })
}

/// Applies the allow/block lists to an inbound recipient: a block that holds whoever the
/// sender is rejects (or drops, per the organisation's policy); everything that depends on
/// the sender being genuine is recorded for DATA to decide once it is authenticated.
pub fn listed(ctx: RcptContext, mut rcpt: AcceptedRcpt) -> Result<AcceptedRcpt, Refusal> {
    if !rcpt.inbound {
        return Ok(rcpt);
    }
    let (policy, sender) = (ctx.policy, ctx.sender);
    rcpt.lists = policy.list_outcome(rcpt.user_id, rcpt.domain_id, rcpt.org_id, sender, ctx.peer);
    rcpt.correspondent = rcpt.user_id.is_some_and(|u| policy.is_correspondent(u, sender));
    if let Some((ListKind::Block, level)) = rcpt.lists.authenticated {
        let drop = blocked_mail_is_dropped(policy, &rcpt);
        tracing::info!(rcpt = %rcpt.address, %sender, level = %moat_openapi::wire_name(&level), drop, "sender block-listed");
        if drop {
            rcpt.dropped = true;
            return Ok(rcpt);
        }
        return Err(Refusal(550, "5.7.1", format!("<{sender}>: sender blocked by the recipient's policy")));
    }
    Ok(rcpt)
}

/// Whether the recipient's policy drops blocked mail (rather than refusing it).
pub fn blocked_mail_is_dropped(policy: &PolicyIndex, rcpt: &AcceptedRcpt) -> bool {
    rcpt.org_id.is_some() && rcpt.policy(policy).block_action == moat_openapi::BlockAction::Drop
}

/// Applies greylisting to an inbound recipient whose domain's policy turns it on. Exempt:
/// trusted gateways, IP allow entries, and a customer's own server sending as its own
/// organisation (another sender from that server is greylisted like anyone). Sender allow
/// entries cannot exempt: whether the sender is genuine is only known after DATA.
pub fn greylisted(
    ctx: RcptContext,
    greylist: &Greylist,
    config: &WorkerConfig,
    rcpt: AcceptedRcpt,
) -> Result<AcceptedRcpt, Refusal> {
    let (policy, sender) = (ctx.policy, ctx.sender);
    let on = rcpt.inbound && rcpt.org_id.is_some() && rcpt.policy(policy).greylisting;
    let ip_allowed = rcpt.lists.unauthenticated.is_some_and(|(kind, _)| kind == ListKind::Allow);
    let own_server = matches!(policy.sending_org(ctx.peer, sender), Ok(Some(_))) && !sender.is_empty();
    // Mail that will be dropped is not greylisted: a 451 would tell the sender it is seen.
    if !on || ip_allowed || ctx.trusted || own_server || rcpt.dropped {
        return Ok(rcpt);
    }
    match greylist.check(ctx.peer, sender, &rcpt.address, config) {
        Ok(()) => Ok(rcpt),
        Err(wait) => {
            Err(Refusal(451, "4.7.1", format!("Greylisted, please try again in {} seconds", wait.as_secs().max(1))))
        }
    }
}

/// Unwraps a BATV-tagged recipient before lookup. A bounce (null sender) must carry a valid,
/// unexpired tag to use one.
pub fn untag(ctx: RcptContext, batv: &Batv, address: &str) -> Result<(String, bool), Refusal> {
    if batv::unwrap(address).is_none() {
        return Ok((address.to_string(), false));
    }
    let bounce = ctx.sender.is_empty();
    match batv.verify(address) {
        Some(original) => Ok((original, bounce)),
        None if bounce => Err(Refusal(550, "5.7.1", format!("<{address}>: invalid or expired bounce address tag"))),
        None => Ok((batv::unwrap(address).map(|(_, a)| a).unwrap_or_default(), false)),
    }
}

#[cfg(test)]
mod tests {
    use super::split_address;

    #[test]
    fn addresses_split_at_the_last_at_sign() {
        assert_eq!(split_address("Ann@Example.TEST."), Some(("Ann".into(), "example.test".into())));
        assert_eq!(split_address("user%other@example.test"), Some(("user%other".into(), "example.test".into())));
        assert_eq!(split_address("\"a@b\"@example.test"), Some(("\"a@b\"".into(), "example.test".into())));
        assert_eq!(split_address("nobody"), None);
        assert_eq!(split_address("@example.test"), None);
    }
}
