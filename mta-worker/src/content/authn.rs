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

/// One check's result, named by its RFC 8601 word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    #[default]
    None,
    Pass,
    Fail,
    SoftFail,
    Neutral,
    TempError,
    PermError,
}

/// The policy a From domain publishes in DMARC (`p=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishedPolicy {
    #[default]
    None,
    Quarantine,
    Reject,
}

/// What authentication found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthSummary {
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub arc: AuthResult,
    pub dmarc: AuthResult,
    /// The policy the From domain publishes, when DMARC applies.
    pub dmarc_policy: PublishedPolicy,
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

/// Runs SPF, DKIM, ARC and DMARC on a received message (`raw` as it arrived), over the
/// message's one parse when there is one.
pub async fn authenticate(
    authenticator: &MessageAuthenticator,
    hostname: &str,
    envelope: &Envelope<'_>,
    raw: &[u8],
    parsed: Option<&mail_parser::Message<'_>>,
) -> AuthSummary {
    match tokio::time::timeout(TIME_LIMIT, check(authenticator, hostname, envelope, raw, parsed)).await {
        Ok(summary) => summary,
        Err(_) => {
            tracing::warn!("authentication checks timed out");
            AuthSummary {
                spf: AuthResult::TempError,
                dkim: AuthResult::TempError,
                arc: AuthResult::None,
                dmarc: AuthResult::TempError,
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
    parsed: Option<&mail_parser::Message<'_>>,
) -> AuthSummary {
    let helo = if envelope.helo.is_empty() { "unknown" } else { envelope.helo };
    let spf = if envelope.mail_from.is_empty() {
        authenticator.verify_spf(SpfParameters::verify_ehlo(envelope.ip, helo, hostname)).await
    } else {
        authenticator.verify_spf(SpfParameters::verify_mail_from(envelope.ip, helo, hostname, envelope.mail_from)).await
    };
    let message = match parsed {
        // mail-auth reads the header fields at the offsets mail-parser recorded: no second parse.
        Some(parsed) if std::ptr::eq(parsed.raw_message(), raw) => {
            Some(AuthenticatedMessage::from_parsed(parsed, raw, true))
        }
        _ => AuthenticatedMessage::parse(raw),
    };
    let Some(message) = message else {
        let header = AuthenticationResults::new(hostname)
            .with_spf_mailfrom_result(&spf, envelope.ip, envelope.mail_from, helo)
            .to_header();
        return AuthSummary { spf: spf_result(spf.result()), header, ..Default::default() };
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
        AuthResult::Pass
    } else {
        dkim.first().map(|first| dkim_result(first.result())).unwrap_or_default()
    };
    let dmarc_result = match dmarc.result() {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
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
        DmarcPolicy::Reject => PublishedPolicy::Reject,
        DmarcPolicy::Quarantine => PublishedPolicy::Quarantine,
        DmarcPolicy::None | DmarcPolicy::Unspecified => PublishedPolicy::None,
    };
    AuthSummary {
        spf: spf_result(spf.result()),
        dkim: dkim_summary,
        arc: dkim_result(arc.result()),
        dmarc: dmarc_result,
        dmarc_policy: policy,
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

fn spf_result(result: SpfResult) -> AuthResult {
    match result {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dkim_result(result: &DkimResult) -> AuthResult {
    match result {
        DkimResult::Pass => AuthResult::Pass,
        DkimResult::Neutral(_) => AuthResult::Neutral,
        DkimResult::Fail(_) => AuthResult::Fail,
        DkimResult::PermError(_) => AuthResult::PermError,
        DkimResult::TempError(_) => AuthResult::TempError,
        DkimResult::None => AuthResult::None,
    }
}

/// The action DMARC asks for under the organisation's `dmarc_action`: `reject` follows the
/// published policy, `quarantine` holds what it would reject, `none` only scores.
pub fn dmarc_action(summary: &AuthSummary, org_action: DmarcAction) -> Option<moat_openapi::Verdict> {
    use moat_openapi::Verdict;
    if summary.dmarc != AuthResult::Fail {
        return None;
    }
    match (org_action, summary.dmarc_policy) {
        (DmarcAction::Reject, PublishedPolicy::Reject) => Some(Verdict::Reject),
        (DmarcAction::Reject | DmarcAction::Quarantine, PublishedPolicy::Reject | PublishedPolicy::Quarantine) => {
            Some(Verdict::Quarantine)
        }
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
        use PublishedPolicy::{Quarantine, Reject};
        use moat_openapi::Verdict;
        let failed = |policy| AuthSummary { dmarc: AuthResult::Fail, dmarc_policy: policy, ..Default::default() };
        assert_eq!(dmarc_action(&failed(Reject), DmarcAction::Reject), Some(Verdict::Reject));
        assert_eq!(dmarc_action(&failed(Quarantine), DmarcAction::Reject), Some(Verdict::Quarantine));
        assert_eq!(dmarc_action(&failed(Reject), DmarcAction::Quarantine), Some(Verdict::Quarantine));
        assert_eq!(dmarc_action(&failed(PublishedPolicy::None), DmarcAction::Reject), None);
        assert_eq!(dmarc_action(&failed(Reject), DmarcAction::None), None);
        let passed = AuthSummary { dmarc: AuthResult::Pass, dmarc_policy: Reject, ..Default::default() };
        assert_eq!(dmarc_action(&passed, DmarcAction::Reject), None);
    }
}
