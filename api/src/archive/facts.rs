//! What the archive indexes of a raw message, from one parse: its addresses, subject,
//! conversation headers, the start of its text and whether it carries attachments.

use mail_parser::{Address, HeaderValue, MessageParser};
use moat_openapi::{MAX_ADDRESS_CHARS, MAX_MESSAGE_ID_CHARS, MAX_SUBJECT_CHARS, bounded};

/// Characters of the text that search looks in (the start of a message is where the words
/// people remember are; a whole attachment-sized text would make every search slow).
pub const SEARCH_TEXT_CHARS: usize = 8_000;
/// Characters of the text a mailbox list shows.
pub const SNIPPET_CHARS: usize = 160;
/// Most recipients indexed per message, and most references followed.
const MAX_RECIPIENTS: usize = 100;
const MAX_REFERENCES: usize = 50;

/// The indexed facts of one archived message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The `From:` address (lower-cased), else the envelope sender.
    pub sender: String,
    /// `To:` and `Cc:` addresses, lower-cased.
    pub recipients: Vec<String>,
    pub subject: String,
    /// `Message-ID` without angle brackets (empty when the message has none).
    pub message_id: String,
    /// `References` then `In-Reply-To`, oldest first, without angle brackets.
    pub parents: Vec<String>,
    pub snippet: String,
    /// Lower-cased sender, recipients, subject and the start of the text.
    pub search_text: String,
    pub has_attachments: bool,
}

fn addresses(value: Option<&Address<'_>>, out: &mut Vec<String>) {
    let Some(value) = value else { return };
    for addr in value.iter() {
        if let Some(email) = addr.address() {
            let email = bounded(&email.to_lowercase(), MAX_ADDRESS_CHARS);
            if out.len() < MAX_RECIPIENTS && !out.contains(&email) {
                out.push(email);
            }
        }
    }
}

fn ids(value: &HeaderValue<'_>, out: &mut Vec<String>) {
    let mut push = |id: &str| {
        let id = bounded(id.trim_matches(|c| c == '<' || c == '>'), MAX_MESSAGE_ID_CHARS);
        if !id.is_empty() && out.len() < MAX_REFERENCES && !out.contains(&id) {
            out.push(id);
        }
    };
    match value {
        HeaderValue::Text(id) => push(id),
        HeaderValue::TextList(list) => list.iter().for_each(|id| push(id)),
        _ => {}
    }
}

/// The facts of `raw`; `envelope_sender` stands in for a missing `From:`.
pub fn of(raw: &[u8], envelope_sender: &str) -> Facts {
    let Some(message) = MessageParser::default().parse(raw) else {
        let sender = envelope_sender.to_lowercase();
        return Facts { search_text: sender.clone(), sender, ..Facts::default() };
    };
    let mut from = Vec::new();
    addresses(message.from(), &mut from);
    let sender = from.into_iter().next().unwrap_or_else(|| bounded(&envelope_sender.to_lowercase(), MAX_ADDRESS_CHARS));
    let mut recipients = Vec::new();
    addresses(message.to(), &mut recipients);
    addresses(message.cc(), &mut recipients);
    let subject = bounded(message.subject().unwrap_or_default(), MAX_SUBJECT_CHARS);
    let message_id = bounded(message.message_id().unwrap_or_default(), MAX_MESSAGE_ID_CHARS);
    let mut parents = Vec::new();
    ids(message.references(), &mut parents);
    ids(message.in_reply_to(), &mut parents);
    let text: String = message.body_text(0).map(|t| t.chars().take(SEARCH_TEXT_CHARS).collect()).unwrap_or_default();
    let snippet = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let snippet = bounded(&snippet, SNIPPET_CHARS);
    let search_text = format!("{sender}\n{}\n{subject}\n{text}", recipients.join(",")).to_lowercase();
    let has_attachments = message.attachment_count() > 0;
    Facts { sender, recipients, subject, message_id, parents, snippet, search_text, has_attachments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_names_its_conversation_and_its_text_is_searchable() {
        let raw = b"From: Alice <Alice@Partner.test>\r\nTo: bob@example.test, Carol <carol@example.test>\r\n\
Cc: dave@example.test\r\nSubject: Re: Quarterly figures\r\nMessage-ID: <r2@partner.test>\r\n\
In-Reply-To: <r1@example.test>\r\nReferences: <r0@example.test> <r1@example.test>\r\n\r\n\
Here are the   PINEAPPLE numbers.\r\n";
        let f = of(raw, "bounce@partner.test");
        assert_eq!(f.sender, "alice@partner.test");
        assert_eq!(f.recipients, ["bob@example.test", "carol@example.test", "dave@example.test"]);
        assert_eq!(f.subject, "Re: Quarterly figures");
        assert_eq!(f.message_id, "r2@partner.test");
        assert_eq!(f.parents, ["r0@example.test", "r1@example.test"]);
        assert_eq!(f.snippet, "Here are the PINEAPPLE numbers.");
        assert!(f.search_text.contains("pineapple numbers"));
        assert!(!f.has_attachments);
    }

    #[test]
    fn a_message_without_headers_falls_back_to_the_envelope() {
        let f = of(b"\r\n", "Someone@Else.test");
        assert_eq!(f.sender, "someone@else.test");
        assert!(f.message_id.is_empty() && f.parents.is_empty());
    }
}
