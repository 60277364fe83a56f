//! What a quarantined message shows its reader, made safe: header fields and attachments
//! listed from one parse, the text part as it is, and the HTML part through ammonia (no
//! script, style, form, frame or event handler; only web and mail links; remote images
//! removed unless the reader asks for them), with every link's real target listed.

use std::sync::{Arc, Mutex};

use mail_parser::{MessageParser, MimeHeaders, PartType};
use moat_openapi::{AttachmentInfo, HeaderField, PreviewLink, QuarantinePreview};

/// Most header fields listed, and most characters of one.
const MAX_HEADERS: usize = 200;
const MAX_HEADER_CHARS: usize = 2000;

/// The header fields and attachments of a raw message.
pub fn outline(raw: &[u8]) -> (Vec<HeaderField>, Vec<AttachmentInfo>) {
    let Some(message) = MessageParser::default().parse(raw) else { return (Vec::new(), Vec::new()) };
    let headers = message
        .headers_raw()
        .take(MAX_HEADERS)
        .map(|(name, value)| HeaderField {
            name: name.to_string(),
            value: moat_openapi::bounded(&unfold(value), MAX_HEADER_CHARS),
        })
        .collect();
    let attachments = message
        .attachments()
        .map(|part| AttachmentInfo {
            name: part.attachment_name().unwrap_or("(no name)").to_string(),
            content_type: content_type(part),
            size: part.len() as i64,
        })
        .collect();
    (headers, attachments)
}

/// A part's `type/subtype` (`application/octet-stream` when it says none).
pub fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
        .unwrap_or_else(|| "application/octet-stream".into())
}

fn unfold(value: &str) -> String {
    value.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The readable parts of a raw message; remote images kept only with `images`.
pub fn preview(raw: &[u8], images: bool) -> QuarantinePreview {
    let Some(message) = MessageParser::default().parse(raw) else {
        return QuarantinePreview { text: None, html: None, remote_images_blocked: 0, links: Vec::new() };
    };
    let text = message.text_part(0).and_then(|part| match &part.body {
        PartType::Text(text) => Some(text.to_string()),
        _ => None,
    });
    let html = message.html_part(0).and_then(|part| match &part.body {
        PartType::Html(html) => Some(html.to_string()),
        _ => None,
    });
    let (html, remote_images_blocked, links) = match html {
        Some(html) => {
            let (clean, blocked, links) = sanitize(&html, images);
            (Some(clean), blocked, links)
        }
        None => (None, 0, Vec::new()),
    };
    QuarantinePreview { text, html, remote_images_blocked, links }
}

/// The most text a plain-text view shows.
const MAX_PLAIN_TEXT_CHARS: usize = 20_000;

/// The message's text (an HTML-only message turned into text), for pages that show no HTML.
pub fn plain_text(raw: &[u8]) -> String {
    let text = MessageParser::default().parse(raw).and_then(|m| m.body_text(0).map(|t| t.into_owned()));
    moat_openapi::bounded(&text.unwrap_or_default(), MAX_PLAIN_TEXT_CHARS)
}

/// Sanitizes one HTML body: answers the safe HTML, how many remote images it left out, and
/// its links.
pub fn sanitize(html: &str, images: bool) -> (String, u32, Vec<PreviewLink>) {
    let blocked = Arc::new(Mutex::new(0u32));
    let counter = blocked.clone();
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto", "cid"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            let remote =
                ["http:", "https:", "//"].iter().any(|p| value.trim_start().to_ascii_lowercase().starts_with(p));
            if element == "img" && attribute == "src" && remote && !images {
                if let Ok(mut n) = counter.lock() {
                    *n += 1;
                }
                return None;
            }
            Some(value.into())
        });
    let clean = builder.clean(html).to_string();
    let links = links_of(&clean);
    let blocked = blocked.lock().map(|n| *n).unwrap_or(0);
    (clean, blocked, links)
}

/// The `<a href>` links of sanitized HTML (ammonia writes attributes double-quoted and
/// escaped), with their text.
fn links_of(clean: &str) -> Vec<PreviewLink> {
    let mut links = Vec::new();
    let mut rest = clean;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let href = tag.split_once("href=\"").and_then(|(_, v)| v.split_once('"')).map(|(v, _)| v.replace("&amp;", "&"));
        let body_end = rest.find("</a>").unwrap_or(rest.len());
        let text = strip_tags(&rest[tag_end + 1..body_end.max(tag_end + 1)]);
        if let Some(href) = href {
            links.push(PreviewLink { text, href });
        }
        rest = &rest[body_end.min(rest.len())..];
        if rest.len() <= 1 {
            break;
        }
        rest = &rest[1..];
        if links.len() >= 500 {
            break;
        }
    }
    links
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<p onclick="steal()">Hi <b>there</b></p><script>alert(1)</script>
        <style>body{display:none}</style><form action="https://evil.test"><input name=p></form>
        <iframe src="https://evil.test/frame"></iframe><img src="https://tracker.test/pixel.gif" onerror="x()">
        <a href="javascript:alert(2)">click</a> <a href="https://bank.test.evil.test/login">Your bank</a>"#;

    #[test]
    fn active_content_goes_and_remote_images_wait_for_the_reader() {
        let (clean, blocked, links) = sanitize(HOSTILE, false);
        for bad in [
            "<script",
            "alert(1)",
            "<style",
            "<form",
            "<input",
            "<iframe",
            "onclick",
            "onerror",
            "javascript:",
            "tracker.test",
        ] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
        assert!(clean.contains("<b>there</b>"), "{clean}");
        assert_eq!(blocked, 1);
        // The javascript: link keeps its text and loses its target.
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].href, "https://bank.test.evil.test/login");
        assert_eq!(links[0].text, "Your bank");
        assert!(clean.contains("rel=\"noopener noreferrer nofollow\""));
        let (with_images, blocked, _) = sanitize(HOSTILE, true);
        assert_eq!(blocked, 0);
        assert!(with_images.contains("https://tracker.test/pixel.gif"));
        assert!(!with_images.contains("onerror"));
    }

    #[test]
    fn a_message_previews_its_text_and_html_and_lists_its_attachments() {
        let raw = b"From: a@b.test\r\nSubject: Hello\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n\
--X\r\nContent-Type: text/html\r\n\r\n<p>Hi<script>x()</script></p>\r\n--X\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\nPDFDATA\r\n--X--\r\n";
        let p = preview(raw, false);
        assert_eq!(p.html.as_deref(), Some("<p>Hi</p>"));
        let (headers, attachments) = outline(raw);
        assert!(headers.iter().any(|h| h.name == "Subject" && h.value == "Hello"), "{headers:?}");
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0].name, "invoice.pdf");
        assert_eq!(attachments[0].content_type, "application/pdf");
    }
}
