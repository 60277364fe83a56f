//! Named rules with weights: header sanity, forged or missing fields, HTML-only bodies,
//! links, shouting subjects, and the results of SPF/DKIM/DMARC and the DNSBL stage.
//! Weights are defaults; `rule_weights` in the worker config overrides any of them.

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, Message, MimeHeaders};

use super::tokens::Bodies;
use crate::content::authn::{AuthResult, AuthSummary};

/// Every rule and its default weight (points added when it fires).
pub const RULES: &[(&str, f64)] = &[
    ("MISSING_FROM", 2.0),
    ("MISSING_DATE", 1.0),
    ("MISSING_MESSAGE_ID", 1.0),
    ("MISSING_SUBJECT", 0.5),
    ("INVALID_DATE", 1.0),
    ("DATE_IN_FUTURE", 1.5),
    ("FROM_NAME_HAS_OTHER_ADDRESS", 2.0),
    ("HTML_ONLY", 1.0),
    ("MANY_URLS", 1.0),
    ("URL_IP_HOST", 2.0),
    ("SUBJECT_ALL_CAPS", 1.0),
    ("SUBJECT_EXCLAMATIONS", 0.5),
    ("SPF_FAIL", 3.0),
    ("SPF_SOFTFAIL", 1.0),
    ("DKIM_FAIL", 1.5),
    ("DMARC_FAIL", 3.0),
    ("DMARC_PASS", -1.0),
    ("BAYES_00", -2.0),
    ("BAYES_05", -1.0),
    ("BAYES_20", -0.5),
    ("BAYES_60", 1.0),
    ("BAYES_80", 3.0),
    ("BAYES_95", 5.0),
    ("BAYES_99", 5.5),
];

/// The default weight of a rule.
pub fn default_weight(rule: &str) -> f64 {
    RULES.iter().find(|(name, _)| *name == rule).map(|(_, w)| *w).unwrap_or(0.0)
}

/// Names of the header and body rules that fire on this message.
pub fn content(message: &Message<'_>, bodies: &Bodies<'_>, now: DateTime<Utc>) -> Vec<&'static str> {
    let mut fired = Vec::new();
    let from = message.from().and_then(|a| a.first());
    if from.and_then(|a| a.address()).is_none() {
        fired.push("MISSING_FROM");
    }
    match message.header("Date") {
        None => fired.push("MISSING_DATE"),
        Some(HeaderValue::DateTime(date)) => {
            if date.to_timestamp() > now.timestamp() + 24 * 3600 {
                fired.push("DATE_IN_FUTURE");
            }
        }
        Some(_) => fired.push("INVALID_DATE"),
    }
    if message.message_id().is_none() {
        fired.push("MISSING_MESSAGE_ID");
    }
    match message.subject() {
        None => fired.push("MISSING_SUBJECT"),
        Some(subject) => {
            let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
            if letters.len() >= 10 && letters.iter().all(|c| c.is_uppercase()) {
                fired.push("SUBJECT_ALL_CAPS");
            }
            if subject.matches('!').count() >= 3 {
                fired.push("SUBJECT_EXCLAMATIONS");
            }
        }
    }
    if let Some(from) = from
        && let (Some(name), Some(address)) = (from.name(), from.address())
        && let Some(at) = name.find('@')
    {
        // A display name that is itself an address, and not this one: "paypal@paypal.com" <x@evil>.
        let start = name[..at]
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace() || *c == '<' || *c == '"')
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let end =
            name[at..].find(|c: char| c.is_whitespace() || c == '>' || c == '"').map(|i| at + i).unwrap_or(name.len());
        if !name[start..end].eq_ignore_ascii_case(address) {
            fired.push("FROM_NAME_HAS_OTHER_ADDRESS");
        }
    }
    let is = |part: &mail_parser::MessagePart<'_>, sub: &str| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case(sub))
        })
    };
    let has_html = message.parts.iter().any(|p| is(p, "html"));
    let has_plain = message.parts.iter().any(|p| is(p, "plain"));
    if has_html && !has_plain {
        fired.push("HTML_ONLY");
    }
    if bodies.links.len() > 15 {
        fired.push("MANY_URLS");
    }
    if bodies.links.iter().any(|(_, ip)| *ip) {
        fired.push("URL_IP_HOST");
    }
    fired
}

/// Rules from the authentication results.
pub fn authentication(auth: &AuthSummary) -> Vec<&'static str> {
    let mut fired = Vec::new();
    match auth.spf {
        AuthResult::Fail => fired.push("SPF_FAIL"),
        AuthResult::SoftFail => fired.push("SPF_SOFTFAIL"),
        _ => {}
    }
    if auth.dkim == AuthResult::Fail {
        fired.push("DKIM_FAIL");
    }
    match auth.dmarc {
        AuthResult::Fail => fired.push("DMARC_FAIL"),
        AuthResult::Pass => fired.push("DMARC_PASS"),
        _ => {}
    }
    fired
}

/// The classifier's bucket for a spam probability (named like SpamAssassin's).
pub fn bayes_bucket(p: f64) -> Option<&'static str> {
    Some(match p {
        p if p < 0.01 => "BAYES_00",
        p if p < 0.05 => "BAYES_05",
        p if p < 0.20 => "BAYES_20",
        p if p < 0.60 => return None,
        p if p < 0.80 => "BAYES_60",
        p if p < 0.95 => "BAYES_80",
        p if p < 0.99 => "BAYES_95",
        _ => "BAYES_99",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(raw: &str) -> Vec<&'static str> {
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        content(&message, &Bodies::of(&message), Utc::now())
    }

    #[test]
    fn header_and_body_rules_fire_on_what_they_name() {
        let clean = "From: Ann <ann@example.test>\r\nTo: bob@example.test\r\nSubject: Lunch\r\n\
                     Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nSee you.\r\n";
        assert!(fired(clean).is_empty(), "{:?}", fired(clean));
        let bad = "From: \"service@bank.example\" <x@evil.example>\r\nSubject: ACT NOW WINNER!!!\r\n\
                   Date: Fri, 1 Jan 2100 00:00:00 +0000\r\nContent-Type: text/html\r\n\r\n\
                   <a href=\"http://192.0.2.1/x\">claim</a>\r\n";
        let hits = fired(bad);
        for rule in [
            "FROM_NAME_HAS_OTHER_ADDRESS",
            "SUBJECT_ALL_CAPS",
            "SUBJECT_EXCLAMATIONS",
            "DATE_IN_FUTURE",
            "MISSING_MESSAGE_ID",
            "HTML_ONLY",
            "URL_IP_HOST",
        ] {
            assert!(hits.contains(&rule), "{rule} missing from {hits:?}");
        }
        assert!(fired("Subject: x\r\n\r\nbody\r\n").contains(&"MISSING_FROM"));
        // A multi-byte space before the address in a display name must not panic.
        assert!(
            fired("From: \"Bank\u{3000}service@bank.example\" <x@evil.example>\r\n\r\nhi\r\n")
                .contains(&"FROM_NAME_HAS_OTHER_ADDRESS")
        );
        assert!(fired("From: a@b.test\r\nDate: yesterday\r\n\r\nbody\r\n").contains(&"INVALID_DATE"));
        assert!(RULES.iter().all(|(name, _)| default_weight(name) != 0.0));
        assert_eq!(bayes_bucket(0.5), None);
        assert_eq!(bayes_bucket(0.999), Some("BAYES_99"));
        assert_eq!(bayes_bucket(0.001), Some("BAYES_00"));
    }
}
