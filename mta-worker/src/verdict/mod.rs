//! The verdict step of an inbound message: what content scoring and DMARC make of it under
//! each route's policy, how recipients split into routes by list treatment, and where each
//! copy goes (delivered, held, refused), with the `X-Moat-*` headers that say so.

use moat_openapi::{Verdict, wire_name};

use crate::content::attachments::FileName;
use crate::content::authn::{AuthSummary, dmarc_action};
use crate::content::scan::Scored;
use crate::envelope::routing::{AcceptedRcpt, IGNORED_ALLOW, ListTrust, Target, blocked_mail_is_dropped};
use crate::policy::PolicyIndex;
use routes::Route;

pub mod routes;

/// The content verdict of an inbound message, before per-route policy.
pub struct Judged {
    pub scored: Scored,
    pub auth: Option<AuthSummary>,
}

impl Judged {
    /// What a route's policy makes of the score and DMARC: `None` is deliver. With
    /// `score_exempt` (a sender allow entry that was believed) only DMARC can hold it.
    pub fn verdict_for(&self, policy: &moat_openapi::Policy, score_exempt: bool) -> Option<(Verdict, Vec<String>)> {
        let by_score = if score_exempt {
            Verdict::Deliver
        } else {
            self.scored.verdict(policy.quarantine_threshold, policy.reject_threshold)
        };
        let by_dmarc = self.auth.as_ref().and_then(|a| dmarc_action(a, policy.dmarc_action));
        match (by_score, by_dmarc) {
            (Verdict::Reject, _) => Some((Verdict::Reject, self.scored.reasons())),
            (_, Some(action)) => {
                let domain = self.auth.as_ref().map(|a| a.from_domain.as_str()).unwrap_or_default();
                let policy = wire_name(&self.auth.as_ref().map(|a| a.dmarc_policy).unwrap_or_default());
                let mut reasons = vec![format!("DMARC: {domain} fails authentication and asks p={policy}")];
                reasons.extend(self.scored.reasons());
                Some((action, reasons))
            }
            (Verdict::Quarantine, None) => Some((Verdict::Quarantine, self.scored.reasons())),
            (Verdict::Deliver, None) => None,
        }
    }
}

/// Where each copy of a message went: delivered (with any note for tracking), held in
/// quarantine (with its reasons), or not delivered (reasons, and whether the sender may be
/// told with a 550).
#[derive(Default)]
pub struct Outcome {
    pub kept: Vec<(Route, Vec<String>)>,
    pub held: Vec<(Route, Vec<String>)>,
    pub dropped: Vec<(Route, Vec<String>, bool)>,
}

impl Outcome {
    /// Every copy refused (attachment, spam score, DMARC, block list): the 550 to answer.
    pub fn refusal(&self) -> Option<String> {
        let all_refused = self.kept.is_empty() && self.held.is_empty() && !self.dropped.is_empty();
        (all_refused && self.dropped.iter().all(|d| d.2)).then(|| self.dropped[0].1.join(", "))
    }

    /// The message's verdict as a whole.
    pub fn verdict(&self) -> Verdict {
        if !self.kept.is_empty() {
            Verdict::Deliver
        } else if !self.held.is_empty() {
            Verdict::Quarantine
        } else {
            Verdict::Reject
        }
    }

    /// Every copy with its verdict and reasons.
    pub fn copies(&self) -> impl Iterator<Item = (&Route, Verdict, &Vec<String>)> {
        let kept = self.kept.iter().map(|(r, why)| (r, Verdict::Deliver, why));
        let held = self.held.iter().map(|(r, why)| (r, Verdict::Quarantine, why));
        kept.chain(held).chain(self.dropped.iter().map(|(r, why, _)| (r, Verdict::Reject, why)))
    }
}

/// Decides each route: block-listed drops are never delivered; a blocked attachment is
/// quarantined or rejected per the recipient organisation's policy (allow lists do not
/// exempt from it); spam goes to the users' quarantines unless the route's recipients
/// allow-listed the sender (and, for address and domain entries, the sender is genuine).
pub fn split_routes(
    policy: &PolicyIndex,
    accepted: &[AcceptedRcpt],
    routes: Vec<Route>,
    judged: Option<&Judged>,
    files: &[FileName],
) -> Outcome {
    let authenticated = judged.and_then(|j| j.auth.as_ref()).is_some_and(|a| a.authenticated);
    let mut outcome = Outcome::default();
    for route in routes {
        if let Some(rules) = outbound_rules(policy, &route) {
            match outbound_hold(rules, judged, files) {
                Some(reasons) => outcome.held.push((route, reasons)),
                None => outcome.kept.push((route, Vec::new())),
            }
            continue;
        }
        // Filtering applies to mail for customers' domains, under that domain's policy.
        let customer_domain = match &route.target {
            Target::Customer { domain, .. } => Some(domain.as_str()),
            _ => None,
        };
        let route_policy = policy.effective_policy(customer_domain.unwrap_or_default(), route.org_id);
        let attachment = customer_domain.and_then(|_| {
            crate::content::attachments::blocked(
                files,
                &route_policy.blocked_extensions,
                route_policy.sniff_attachments,
            )
        });
        let rcpts: Vec<&AcceptedRcpt> =
            route.recipients.iter().filter_map(|r| accepted.iter().find(|a| a.address == r.address)).collect();
        // Recipients of one route share their trust (see `build_routes`).
        let trust = rcpts.first().map(|r| r.trust(authenticated)).unwrap_or(ListTrust::Unlisted);
        let overridden = rcpts.iter().any(|r| r.lists.authenticated != r.lists.unauthenticated);
        let notes = if trust == ListTrust::Ignored || (trust == ListTrust::Blocked && overridden) {
            vec![IGNORED_ALLOW.to_string()]
        } else {
            Vec::new()
        };
        let spam = || match (judged, trust) {
            (_, ListTrust::Allowed { by_network: true }) => None,
            (Some(judged), trust) if customer_domain.is_some() => {
                judged.verdict_for(route_policy, matches!(trust, ListTrust::Allowed { .. }))
            }
            _ => None,
        };
        if rcpts.iter().all(|a| a.dropped) && !rcpts.is_empty() {
            outcome.dropped.push((route, vec!["block list (dropped)".to_string()], false));
        } else if trust == ListTrust::Blocked {
            let silently = rcpts.first().is_some_and(|r| blocked_mail_is_dropped(policy, r));
            let why = if silently { "block list (dropped)" } else { "sender blocked by the recipient's policy" };
            outcome.dropped.push((route, [vec![why.to_string()], notes].concat(), !silently));
        } else if let Some(reason) = attachment {
            if route_policy.attachment_action == moat_openapi::AttachmentAction::Reject {
                outcome.dropped.push((route, vec![reason], true));
            } else {
                outcome.held.push((route, vec![reason]));
            }
        } else if let Some((verdict, reasons)) = spam() {
            match verdict {
                Verdict::Reject => outcome.dropped.push((route, [notes, reasons].concat(), true)),
                _ => outcome.held.push((route, [notes, reasons].concat())),
            }
        } else {
            outcome.kept.push((route, notes));
        }
    }
    outcome
}

/// The relaying organisation's outbound content rules, for a route out to the world, when
/// they check anything.
fn outbound_rules<'p>(policy: &'p PolicyIndex, route: &Route) -> Option<OutboundRules<'p>> {
    let (Target::Mx { .. }, Some(org)) = (&route.target, route.org_id) else { return None };
    let p = policy.org_policy(org)?;
    p.outbound_content
        .checks_content()
        .then_some(OutboundRules { content: &p.outbound_content, sniff: p.sniff_attachments })
}

/// What outbound mail is checked against (the organisation's sniffing setting applies too).
#[derive(Clone, Copy)]
struct OutboundRules<'p> {
    content: &'p moat_openapi::OutboundContentPolicy,
    sniff: bool,
}

/// Why an outbound copy is held in the outbound quarantine, if it is: a blocked attachment,
/// or a spam score at or above the outbound threshold.
fn outbound_hold(rules: OutboundRules, judged: Option<&Judged>, files: &[FileName]) -> Option<Vec<String>> {
    if let Some(reason) = crate::content::attachments::blocked(files, &rules.content.blocked_extensions, rules.sniff) {
        return Some(vec![format!("outbound policy: {reason}")]);
    }
    let threshold = rules.content.quarantine_threshold;
    let scored = &judged?.scored;
    (threshold > 0.0 && scored.score >= threshold).then(|| {
        let head = format!("outbound policy: spam score {:.1} at or above {threshold}", scored.score);
        [vec![head], scored.reasons()].concat()
    })
}

/// `X-Moat-Score` and `X-Moat-Verdict` of a judged (inbound) copy.
pub fn verdict_headers(judged: Option<&Judged>, verdict: Verdict) -> String {
    let Some(judged) = judged else { return String::new() };
    let reasons = match judged.scored.reasons() {
        r if r.is_empty() => String::new(),
        r => format!(" ({})", r.join(", ")),
    };
    format!("X-Moat-Score: {:.2}\r\nX-Moat-Verdict: {}{reasons}\r\n", judged.scored.score, wire_name(&verdict))
}
