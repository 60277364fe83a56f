//! Plain words for why a message was held: the worker's technical reasons (rule names with
//! points, `attachment: …`, `DMARC: …`, block list notes) become one stable code and a
//! sentence its reader understands; the technical reasons stay beside it.

use moat_openapi::{Explanation, ReasonCode};

/// What a scoring rule means, for the "main signs" of a spam verdict.
fn rule_words(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "BAYES_80" | "BAYES_95" | "BAYES_99" => "its wording resembles spam this system has learned",
        "BAYES_60" => "its wording leans towards spam",
        "SPF_FAIL" => "the sender's domain does not allow the server it came from",
        "SPF_SOFTFAIL" => "the sender's domain doubts the server it came from",
        "DKIM_FAIL" => "its signature does not match its content",
        "DMARC_FAIL" => "the sender's domain does not vouch for it",
        "URL_IP_HOST" => "it links to a bare IP address",
        "MANY_URLS" => "it carries very many links",
        "FROM_NAME_HAS_OTHER_ADDRESS" => "the sender's name shows a different address",
        "MISSING_FROM" => "it has no sender",
        "MISSING_DATE" | "INVALID_DATE" | "DATE_IN_FUTURE" => "its date is missing or wrong",
        "MISSING_MESSAGE_ID" => "it lacks a message id",
        "SUBJECT_ALL_CAPS" | "SUBJECT_EXCLAMATIONS" => "its subject shouts",
        "HTML_ONLY" => "it has no plain-text version",
        _ => return None,
    })
}

/// What a reason `RULE (+points)` (or a bare `RULE`) says against the message; rules that
/// count in its favour (`(-points)`) are not signs of spam.
fn sign(reason: &str) -> Option<&'static str> {
    if reason.contains("(-") {
        return None;
    }
    rule_words(reason.split_whitespace().next().unwrap_or_default())
}

/// The explanation of `reasons` for a message that scored `score` where its organisation
/// holds mail from `quarantine_at`.
pub fn explain(reasons: &[String], score: f64, quarantine_at: f64) -> Explanation {
    let ignored_allow =
        reasons.iter().any(|r| r.contains("on your allow list, but the message is not really from them"));
    let note = if ignored_allow {
        " The sender is on your allow list, but the message is not really from them, so the list did not apply."
    } else {
        ""
    };
    let (code, text) = if reasons.iter().any(|r| r.starts_with("block list") || r.starts_with("sender blocked")) {
        (ReasonCode::BlockList, "The sender is on a block list of yours or of your organisation.".to_string())
    } else if let Some(what) = reasons.iter().find_map(|r| r.strip_prefix("attachment: ")) {
        (
            ReasonCode::Attachment,
            format!(
                "The attachment {what} is a kind of file your organisation does not accept (it could run a program)."
            ),
        )
    } else if let Some(dmarc) = reasons.iter().find_map(|r| r.strip_prefix("DMARC: ")) {
        let domain = dmarc.split_whitespace().next().unwrap_or("the sender's domain");
        (
            ReasonCode::Dmarc,
            format!("The message claims to come from {domain}, but {domain} says it did not send it (DMARC)."),
        )
    } else if reasons.iter().any(|r| r == "GTUBE") {
        (ReasonCode::TestPattern, "It carries the standard spam test pattern (GTUBE).".to_string())
    } else if score >= quarantine_at || reasons.iter().any(|r| sign(r).is_some()) {
        let signs: Vec<&str> = reasons.iter().filter_map(|r| sign(r)).take(3).collect();
        let mut text = format!("Looks like spam: scored {score:.1} where {quarantine_at:.0} holds mail.");
        if !signs.is_empty() {
            text.push_str(&format!(" Main signs: {}.", signs.join("; ")));
        }
        (ReasonCode::Spam, text)
    } else {
        (ReasonCode::Policy, "Held by your organisation's filtering policy.".to_string())
    };
    Explanation { code, text: format!("{text}{note}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(reasons: &[&str], score: f64) -> Explanation {
        explain(&reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>(), score, 5.0)
    }

    #[test]
    fn each_kind_of_reason_gets_its_code_and_sentence() {
        let spam = words(&["BAYES_99 (+5.5)", "URL_IP_HOST (+2.0)", "DMARC_PASS (-1.0)"], 9.1);
        assert_eq!(spam.code, ReasonCode::Spam);
        assert_eq!(
            spam.text,
            "Looks like spam: scored 9.1 where 5 holds mail. Main signs: its wording resembles spam this system has \
             learned; it links to a bare IP address."
        );
        let file = words(&["attachment: invoice.exe"], 0.0);
        assert_eq!(file.code, ReasonCode::Attachment);
        assert!(file.text.starts_with("The attachment invoice.exe is a kind of file"), "{}", file.text);
        let dmarc = words(&["DMARC: bank.test fails authentication and asks p=reject", "SPF_FAIL (+3.0)"], 3.0);
        assert_eq!((dmarc.code, dmarc.text.contains("bank.test says it did not send it")), (ReasonCode::Dmarc, true));
        assert_eq!(words(&["block list (dropped)"], 0.0).code, ReasonCode::BlockList);
        assert_eq!(words(&["GTUBE"], 1000.0).code, ReasonCode::TestPattern);
        assert_eq!(words(&[], 0.0).code, ReasonCode::Policy);
        let ignored = words(&["on your allow list, but the message is not really from them", "BAYES_95 (+5.0)"], 6.0);
        assert!(ignored.text.ends_with("so the list did not apply."), "{}", ignored.text);
    }
}
