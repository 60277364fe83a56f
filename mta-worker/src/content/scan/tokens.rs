//! Turning a message into the tokens the classifier counts: words of the subject and the
//! text (HTML reduced to text), sender and mailer headers, link hosts and MIME types, each
//! hashed with its field as a prefix so "free" in a subject and in a body differ.

use std::borrow::Cow;

use mail_parser::{HeaderValue, Message, MimeHeaders, PartType};

/// Words longer than this become a "long word" token of their length class.
const MAX_WORD: usize = 24;

/// A message's readable text (HTML reduced to text) and the links in its text and HTML
/// bodies, extracted once for both the rules and the classifier (the HTML conversion is the
/// costly part of a scan).
pub struct Bodies<'a> {
    pub texts: Vec<Cow<'a, str>>,
    /// `(host, is_ip_literal)` of every http(s) link.
    pub links: Vec<(String, bool)>,
}

impl<'a> Bodies<'a> {
    pub fn of(message: &'a Message<'a>) -> Bodies<'a> {
        let texts: Vec<Cow<'a, str>> = (0..message.text_body.len()).filter_map(|i| message.body_text(i)).collect();
        let mut found: Vec<(String, bool)> = texts.iter().flat_map(|t| links(t)).collect();
        // Only real HTML parts: for a text part `body_html` would build HTML from the text
        // just to find the links already taken from it (it was a tenth of a relay's CPU).
        for i in 0..message.html_body.len() {
            if let Some(PartType::Html(html)) = message.html_part(i as u32).map(|p| &p.body) {
                found.extend(links(html));
            }
        }
        Bodies { texts, links: found }
    }
}

/// The distinct hashed tokens of one message, sorted.
#[derive(Debug, Default, Clone)]
pub struct Tokens(Vec<u64>);

impl Tokens {
    pub fn unique(&self) -> &[u64] {
        &self.0
    }

    /// Tokens of plain text.
    #[cfg(test)]
    pub fn from_text(text: &str) -> Tokens {
        let mut out = Vec::new();
        words(b"", text, &mut out);
        Tokens::finish(out)
    }

    /// Tokens of a parsed message whose bodies were extracted with [`Bodies::of`].
    pub fn from_message(message: &Message<'_>, bodies: &Bodies<'_>) -> Tokens {
        let mut out = Vec::with_capacity(512);
        if let Some(subject) = message.subject() {
            words(b"s:", subject, &mut out);
        }
        for (field, prefix) in
            [("From", b"f:".as_slice()), ("Reply-To", b"r:"), ("X-Mailer", b"m:"), ("User-Agent", b"m:")]
        {
            match message.header(field) {
                Some(HeaderValue::Address(address)) => {
                    for addr in address.iter() {
                        if let Some(name) = addr.name() {
                            words(prefix, name, &mut out);
                        }
                        if let Some(email) = addr.address() {
                            let email = email.to_ascii_lowercase();
                            out.push(hash(prefix, email.as_bytes()));
                            if let Some((_, domain)) = email.rsplit_once('@') {
                                out.push(hash(b"fd:", domain.as_bytes()));
                            }
                        }
                    }
                }
                Some(HeaderValue::Text(text)) => words(prefix, text, &mut out),
                _ => {}
            }
        }
        for part in &message.parts {
            if let Some(ct) = part.content_type() {
                let mime = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
                out.push(hash(b"ct:", mime.to_ascii_lowercase().as_bytes()));
            }
            if let Some(name) = part.attachment_name() {
                let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
                out.push(hash(b"ext:", ext.as_bytes()));
            }
        }
        for text in &bodies.texts {
            words(b"", text, &mut out);
        }
        for (host, _) in &bodies.links {
            let labels: Vec<&str> = host.split('.').collect();
            let tail = labels[labels.len().saturating_sub(2)..].join(".");
            out.push(hash(b"url:", host.as_bytes()));
            out.push(hash(b"urld:", tail.as_bytes()));
        }
        Tokens::finish(out)
    }

    fn finish(mut out: Vec<u64>) -> Tokens {
        out.sort_unstable();
        out.dedup();
        Tokens(out)
    }
}

/// FNV-1a over the prefix and the token: stable across runs and platforms (model files).
fn hash(prefix: &[u8], token: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in prefix.iter().chain(token) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn words(prefix: &[u8], text: &str, out: &mut Vec<u64>) {
    let mut lower = String::with_capacity(MAX_WORD);
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '$' || c == '\'' || c == '-')) {
        let word = word.trim_matches(|c| c == '\'' || c == '-');
        let len = word.chars().count();
        if len < 3 {
            continue;
        }
        if len > MAX_WORD {
            // Long runs (encoded junk, hashes) say something by their length only.
            out.push(hash(prefix, format!("long:{}", len / 10).as_bytes()));
            continue;
        }
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        out.push(hash(prefix, lower.as_bytes()));
    }
}

/// Every link in a text: `(host, is_ip_literal)`, for the URL rules.
pub fn links(text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("://") {
        // Walk back over ASCII letters only, so the slice starts on a character boundary.
        let bytes = text.as_bytes();
        let mut scheme_start = at;
        while scheme_start > 0 && bytes[scheme_start - 1].is_ascii_alphabetic() {
            scheme_start -= 1;
        }
        let scheme = &text[scheme_start..at];
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            continue;
        }
        let rest = &text[at + 3..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')).unwrap_or(rest.len());
        let host = rest[..end].trim_end_matches('.').to_ascii_lowercase();
        if !host.is_empty() {
            let ip = host.parse::<std::net::Ipv4Addr>().is_ok();
            found.push((host, ip));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_apart_and_links_found() {
        let raw = b"From: Prize Team <win@lotto.example>\r\nSubject: Free money\r\n\r\nFree money at http://192.0.2.7/claim and https://Shop.Example.com/x\r\n";
        let message = mail_parser::MessageParser::default().parse(raw.as_slice()).unwrap();
        let tokens = Tokens::from_message(&message, &Bodies::of(&message));
        let has = |prefix: &[u8], t: &str| tokens.unique().binary_search(&hash(prefix, t.as_bytes())).is_ok();
        assert!(has(b"s:", "free") && has(b"", "free") && has(b"", "money"));
        assert!(has(b"f:", "win@lotto.example") && has(b"fd:", "lotto.example") && has(b"f:", "prize"));
        assert!(has(b"url:", "shop.example.com") && has(b"urld:", "example.com"));
        assert!(!has(b"s:", "claim"));
        let links = links("see http://192.0.2.7/claim or ftp://x.example and HTTPS://a.example.org.");
        assert_eq!(links, vec![("192.0.2.7".to_string(), true), ("a.example.org".to_string(), false)]);
        // Multi-byte text right before "://" (found in the SpamAssassin corpus) must not panic.
        assert_eq!(super::links("ä://x é€http://b.example"), vec![("b.example".to_string(), false)]);
    }
}
