//! The message a user writes in the Live Archive, built as its mail client would: From the
//! user, a new Message-ID on the user's domain, the conversation headers of what it
//! answers, the text, and attachments (new ones, or those of a forwarded message).

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;

/// A file to attach.
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the user wrote, checked.
pub struct Draft {
    pub from_name: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    /// The Message-ID answered and the conversation's references, oldest first.
    pub answers: Option<(String, Vec<String>)>,
    pub attachments: Vec<Attachment>,
}

fn list(addresses: &[String]) -> Address<'static> {
    Address::new_list(addresses.iter().map(|a| Address::new_address(None::<String>, a.clone())).collect())
}

/// The raw message and its Message-ID (without angle brackets).
pub fn build(draft: Draft) -> (Vec<u8>, String) {
    let domain = draft.from.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_else(|| "moat.localhost".into());
    let message_id = format!("{}@{domain}", uuid::Uuid::new_v4().simple());
    let from = Address::new_address(Some(draft.from_name).filter(|n| !n.is_empty()), draft.from);
    let mut message = MessageBuilder::new()
        .from(from)
        .to(list(&draft.to))
        .subject(draft.subject)
        .message_id(message_id.clone())
        .header("X-Mailer", mail_builder::headers::raw::Raw::new("Moat Live Archive"))
        .text_body(draft.text);
    if !draft.cc.is_empty() {
        message = message.cc(list(&draft.cc));
    }
    if let Some((answered, mut references)) = draft.answers {
        if !references.contains(&answered) {
            references.push(answered.clone());
        }
        message = message.in_reply_to(answered).references(references);
    }
    for file in draft.attachments {
        message = message.attachment(file.content_type, file.name, file.bytes);
    }
    (message.write_to_vec().unwrap_or_default(), message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_carries_the_conversation_and_its_attachment() {
        let (raw, id) = build(Draft {
            from_name: "Bob".into(),
            from: "bob@example.test".into(),
            to: vec!["alice@partner.test".into()],
            cc: vec!["carol@example.test".into()],
            subject: "Re: Figures".into(),
            text: "Thanks, received.".into(),
            answers: Some(("r1@partner.test".into(), vec!["r0@partner.test".into()])),
            attachments: vec![Attachment {
                name: "notes.txt".into(),
                content_type: "text/plain".into(),
                bytes: b"NOTES".to_vec(),
            }],
        });
        assert!(id.ends_with("@example.test"));
        let facts = crate::archive::facts::of(&raw, "");
        assert_eq!(facts.sender, "bob@example.test");
        assert_eq!(facts.recipients, ["alice@partner.test", "carol@example.test"]);
        assert_eq!(facts.message_id, id);
        assert_eq!(facts.parents, ["r0@partner.test", "r1@partner.test"]);
        assert!(facts.has_attachments);
        assert!(facts.search_text.contains("thanks, received."));
    }
}
