//! Attachment policy: file names in the message, and the names inside zip archives, checked
//! against an organisation's blocked extensions. The name decides (renamed files pass, as
//! the product always said) unless the policy turns content sniffing on: then a file's first
//! bytes name its real type too. Nested archives are looked into one level deep.

use std::io::Cursor;

use mail_parser::{Message, MimeHeaders};

/// A file the message carries: how to name it in a reason, and its extension.
#[derive(Debug, Clone, PartialEq)]
pub struct FileName {
    pub label: String,
    pub extension: String,
    /// The type its content shows (`exe`, `zip`, …), when that differs from the name.
    pub sniffed: Option<String>,
}

/// Magic numbers of the types worth catching under another name.
const SIGNATURES: &[(&[u8], &str)] =
    &[(b"MZ", "exe"), (b"PK\x03\x04", "zip"), (b"\x7fELF", "elf"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "msi")];

fn sniff(contents: &[u8], extension: &str) -> Option<String> {
    SIGNATURES
        .iter()
        .find(|(magic, _)| contents.starts_with(magic))
        .map(|(_, kind)| kind.to_string())
        .filter(|kind| kind != extension)
}

fn extension(name: &str) -> String {
    name.rsplit_once('.').map(|(_, ext)| ext.trim().to_lowercase()).unwrap_or_default()
}

/// Every attachment name in a parsed message, plus the names inside zip attachments.
pub fn file_names(message: &Message<'_>) -> Vec<FileName> {
    let mut names = Vec::new();
    for part in message.attachments() {
        let Some(name) = part.attachment_name() else { continue };
        let name = name.trim().to_string();
        let ext = extension(&name);
        let sniffed = sniff(part.contents(), &ext);
        if (ext == "zip" || sniffed.as_deref() == Some("zip"))
            && let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(part.contents()))
        {
            for i in 0..archive.len().min(10_000) {
                if let Ok(file) = archive.by_index_raw(i) {
                    let inner = file.name().rsplit('/').next().unwrap_or_default().to_string();
                    if !inner.is_empty() {
                        names.push(FileName {
                            label: format!("{name} contains {inner}"),
                            extension: extension(&inner),
                            sniffed: None,
                        });
                    }
                }
            }
        }
        names.push(FileName { label: name, extension: ext, sniffed });
    }
    names
}

/// The first file whose extension the policy blocks (or, with `sniff`, whose content is of a
/// blocked type), as a reason.
pub fn blocked(names: &[FileName], blocked_extensions: &[String], sniff: bool) -> Option<String> {
    let is_blocked = |ext: &str| !ext.is_empty() && blocked_extensions.iter().any(|b| b.eq_ignore_ascii_case(ext));
    names.iter().find_map(|f| {
        if is_blocked(&f.extension) {
            Some(format!("attachment: {}", f.label))
        } else {
            let real = f.sniffed.as_deref().filter(|real| sniff && is_blocked(real))?;
            Some(format!("attachment: {} (content is {real})", f.label))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;
    use std::io::Write;

    fn names_in(raw: &[u8]) -> Vec<FileName> {
        file_names(&MessageParser::default().parse(raw).unwrap())
    }

    fn zip_with(name: &str) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(b"MZ not really").unwrap();
        w.finish().unwrap();
        buf.into_inner()
    }

    fn message_with(name: &str, bytes: &[u8]) -> Vec<u8> {
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
        format!(
            "From: a@ext.test\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn blocked_names_are_found_directly_and_inside_zips() {
        let blocked_ext = vec!["exe".to_string(), "js".to_string()];
        let raw = message_with("report.zip", &zip_with("docs/invoice.exe"));
        assert_eq!(
            blocked(&names_in(&raw), &blocked_ext, false).as_deref(),
            Some("attachment: report.zip contains invoice.exe")
        );
        let raw = message_with("Setup.EXE", b"MZ");
        assert_eq!(blocked(&names_in(&raw), &blocked_ext, false).as_deref(), Some("attachment: Setup.EXE"));
        let raw = message_with("renamed.txt", b"MZ\x90\x00");
        assert_eq!(blocked(&names_in(&raw), &blocked_ext, false), None, "renamed files pass");
        // With sniffing on, the content gives them away, also a zip renamed to .dat.
        assert_eq!(
            blocked(&names_in(&raw), &blocked_ext, true).as_deref(),
            Some("attachment: renamed.txt (content is exe)")
        );
        let raw = message_with("photos.dat", &zip_with("run.js"));
        assert_eq!(
            blocked(&names_in(&raw), &blocked_ext, true).as_deref(),
            Some("attachment: photos.dat contains run.js")
        );
        let raw = message_with("notes.txt", b"just text");
        assert_eq!(blocked(&names_in(&raw), &blocked_ext, true), None);
    }
}
