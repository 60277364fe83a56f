//! Email authentication of inbound mail with mail-auth: SPF (MAIL FROM, or HELO for bounces),
//! DKIM, ARC and DMARC, summarised for scoring and the DMARC action, and written as an
//! RFC 8601 `Authentication-Results` header. DNS goes through the worker's resolver.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy as DmarcPolicy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator, SpfResult,
};
use moat_openapi::DmarcAction;

/// The whole check may take this long; slow DNS must not hold the SMTP session for ever.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// What authentication found, as RFC 8601 result words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthSummary {
    pub spf: String,
    pub dkim: String,
    pub arc: String,
    pub dmarc: String,
    /// The policy the From domain publishes (`none`, `quarantine`, `reject`), when DMARC applies.
    pub dmarc_policy: String,
    /// The RFC5322.From domain DMARC judged.
    pub from_domain: String,
    /// The sender is who it says it is: DMARC passed, or (the From domain publishing no
    /// DMARC record) SPF or DKIM passed for a domain aligned with the From domain. Only
    /// then do sender allow entries and the reverse whitelist apply.
    pub authenticated: bool,
    /// The complete `Authentication-Results: …\r\n` header to prepend.
    pub header: String,
}

/// Who sent the message, as the SMTP session saw it.
pub struct Envelope<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    pub mail_from: &'a str,
}

/// Runs SPF, DKIM, ARC and DMARC on a received message (`raw` as it arrived).
pub async fn authenticate(
    authenticator: &MessageAuthenticator,
    hostname: &str,
    envelope: &Envelope<'_>,
    raw: &[u8],
) -> AuthSummary {
    match tokio::time::timeout(TIME_LIMIT, check(authenticator, hostname, envelope, raw)).await {
        Ok(summary) => summary,
        Err(_) => {
            tracing::warn!("authentication checks timed out");
            AuthSummary {
                spf: "temperror".into(),
                dkim: "temperror".into(),
                arc: "none".into(),
                dmarc: "temperror".into(),
                header: format!("Authentication-Results: {hostname}; none (checks timed out)\r\n"),
                ..Default::default()
            }
        }
    }
}

async fn check(
    authenticator: &MessageAuthenticator,
    hostname: &str,
    envelope: &Envelope<'_>,
    raw: &[u8],
) -> AuthSummary {
    let helo = if envelope.helo.is_empty() { "unknown" } else { envelope.helo };
    let spf = if envelope.mail_from.is_empty() {
        authenticator.verify_spf(SpfParameters::verify_ehlo(envelope.ip, helo, hostname)).await
    } else {
        authenticator.verify_spf(SpfParameters::verify_mail_from(envelope.ip, helo, hostname, envelope.mail_from)).await
    };
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        let header = AuthenticationResults::new(hostname)
            .with_spf_mailfrom_result(&spf, envelope.ip, envelope.mail_from, helo)
            .to_header();
        return AuthSummary {
            spf: spf_word(spf.result()).into(),
            dkim: "none".into(),
            arc: "none".into(),
            dmarc: "none".into(),
            header,
            ..Default::default()
        };
    };
    let dkim = authenticator.verify_dkim(&message).await;
    let arc = authenticator.verify_arc(&message).await;
    let mail_from_domain = match envelope.mail_from.rsplit_once('@') {
        Some((_, domain)) => domain,
        None => helo,
    };
    let dmarc = authenticator.verify_dmarc(DmarcParameters::new(&message, &dkim, mail_from_domain, &spf)).await;
    let header = AuthenticationResults::new(hostname)
        .with_dkim_results(&dkim, message.from())
        .with_spf_mailfrom_result(&spf, envelope.ip, envelope.mail_from, helo)
        .with_arc_result(&arc, envelope.ip)
        .with_dmarc_result(&dmarc)
        .to_header();
    let dkim_summary = if dkim.iter().any(|d| matches!(d.result(), DkimResult::Pass)) {
        "pass"
    } else if let Some(first) = dkim.first() {
        dkim_word(first.result())
    } else {
        "none"
    };
    let dmarc_word = match dmarc.result() {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    };
    let authenticated = match dmarc.result() {
        DmarcResult::Pass => true,
        DmarcResult::None if dmarc.dmarc_record().is_none() => {
            let from = dmarc.domain();
            let spf_aligned = matches!(spf.result(), SpfResult::Pass) && aligned(mail_from_domain, from);
            let dkim_aligned = dkim.iter().any(|d| {
                matches!(d.result(), DkimResult::Pass) && d.signature().is_some_and(|sig| aligned(&sig.d, from))
            });
            !from.is_empty() && (spf_aligned || dkim_aligned)
        }
        _ => false,
    };
    let policy = match dmarc.policy() {
        DmarcPolicy::Reject => "reject",
        DmarcPolicy::Quarantine => "quarantine",
        DmarcPolicy::None | DmarcPolicy::Unspecified => "none",
    };
    AuthSummary {
        spf: spf_word(spf.result()).into(),
        dkim: dkim_summary.into(),
        arc: dkim_word(arc.result()).into(),
        dmarc: dmarc_word.into(),
        dmarc_policy: policy.into(),
        from_domain: dmarc.domain().to_string(),
        authenticated,
        header,
    }
}

/// Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of
/// the other (`mail.bank.test` and `bank.test`).
fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('.').to_ascii_lowercase(), b.trim_end_matches('.').to_ascii_lowercase());
    !a.is_empty() && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
}

fn spf_word(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_word(result: &DkimResult) -> &'static str {
    match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

/// The action DMARC asks for under the organisation's `dmarc_action`: `reject` follows the
/// published policy, `quarantine` holds what it would reject, `none` only scores.
pub fn dmarc_action(summary: &AuthSummary, org_action: DmarcAction) -> Option<crate::scan::Verdict> {
    use crate::scan::Verdict;
    if summary.dmarc != "fail" {
        return None;
    }
    match (org_action, summary.dmarc_policy.as_str()) {
        (DmarcAction::Reject, "reject") => Some(Verdict::Reject),
        (DmarcAction::Reject | DmarcAction::Quarantine, "reject" | "quarantine") => Some(Verdict::Quarantine),
        _ => None,
    }
}

/// Removes header fields a sender could forge to look judged by us: `Authentication-Results`
/// bearing our authserv-id (RFC 8601 §5) and any `X-Moat-*`. Only the header section is
/// touched; a field is judged whole, so folding (`Authentication-Results:\r\n  moat.test; …`)
/// cannot hide the authserv-id on a continuation line.
pub fn strip_forged_headers(raw: &[u8], hostname: &str) -> Vec<u8> {
    let end = memchr::memmem::find(raw, b"\r\n\r\n").map(|i| i + 2).unwrap_or(raw.len());
    let (head, body) = raw.split_at(end);
    let ours = hostname.to_ascii_lowercase();
    let forged = |field: &[u8]| {
        let text = String::from_utf8_lossy(field).to_ascii_lowercase();
        text.starts_with("x-moat-")
            || text.strip_prefix("authentication-results:").is_some_and(|v| {
                v.trim_start().split(|c: char| c == ';' || c.is_whitespace()).next() == Some(ours.as_str())
            })
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut field: Vec<u8> = Vec::new();
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation && !field.is_empty() {
            if !forged(&field) {
                out.extend_from_slice(&field);
            }
            field.clear();
        }
        field.extend_from_slice(line);
    }
    if !forged(&field) {
        out.extend_from_slice(&field);
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_results_and_moat_headers_are_removed() {
        let raw = b"Authentication-Results: moat.test;\r\n\tspf=pass\r\nX-Moat-Score: -100\r\n\
                    Authentication-Results: other.example; dkim=pass\r\nSubject: hi\r\n\r\n\
                    X-Moat-Score: in the body stays\r\n";
        let out = String::from_utf8(strip_forged_headers(raw, "moat.test")).unwrap();
        assert_eq!(
            out,
            "Authentication-Results: other.example; dkim=pass\r\nSubject: hi\r\n\r\nX-Moat-Score: in the body stays\r\n"
        );
    }

    #[test]
    fn folded_results_with_our_id_on_the_next_line_are_removed() {
        let raw = b"Authentication-Results:\r\n moat.test;\r\n\tdkim=pass\r\nAuthentication-Results:\r\n \
                    other.example; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n";
        let out = String::from_utf8(strip_forged_headers(raw, "moat.test")).unwrap();
        assert_eq!(out, "Authentication-Results:\r\n other.example; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n");
    }

    #[test]
    fn alignment_is_relaxed_to_subdomains() {
        assert!(aligned("bank.test", "bank.test"));
        assert!(aligned("mail.bank.test", "bank.test"));
        assert!(aligned("bank.test", "news.bank.test"));
        assert!(!aligned("evilbank.test", "bank.test"));
        assert!(!aligned("", "bank.test"));
    }

    #[test]
    fn dmarc_action_follows_policy_within_the_org_limit() {
        use crate::scan::Verdict;
        let failed =
            |policy: &str| AuthSummary { dmarc: "fail".into(), dmarc_policy: policy.into(), ..Default::default() };
        assert_eq!(dmarc_action(&failed("reject"), DmarcAction::Reject), Some(Verdict::Reject));
        assert_eq!(dmarc_action(&failed("quarantine"), DmarcAction::Reject), Some(Verdict::Quarantine));
        assert_eq!(dmarc_action(&failed("reject"), DmarcAction::Quarantine), Some(Verdict::Quarantine));
        assert_eq!(dmarc_action(&failed("none"), DmarcAction::Reject), None);
        assert_eq!(dmarc_action(&failed("reject"), DmarcAction::None), None);
        let passed = AuthSummary { dmarc: "pass".into(), dmarc_policy: "reject".into(), ..Default::default() };
        assert_eq!(dmarc_action(&passed, DmarcAction::Reject), None);
    }
}
