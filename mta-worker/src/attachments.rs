//! Attachment policy: file names in the message, and the names inside zip archives, checked
//! against an organisation's blocked extensions. The name decides (renamed files pass, as
//! the product always said); nested archives are looked into one level deep.

use std::io::Cursor;

use mail_parser::{Message, MimeHeaders};

/// A file the message carries: how to name it in a reason, and its extension.
#[derive(Debug, Clone, PartialEq)]
pub struct FileName {
    pub label: String,
    pub extension: String,
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
        if ext == "zip"
            && let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(part.contents()))
        {
            for i in 0..archive.len().min(10_000) {
                if let Ok(file) = archive.by_index_raw(i) {
                    let inner = file.name().rsplit('/').next().unwrap_or_default().to_string();
                    if !inner.is_empty() {
                        names
                            .push(FileName { label: format!("{name} contains {inner}"), extension: extension(&inner) });
                    }
                }
            }
        }
        names.push(FileName { label: name, extension: ext });
    }
    names
}

/// The first file whose extension the policy blocks, as a reason.
pub fn blocked(names: &[FileName], blocked_extensions: &[String]) -> Option<String> {
    names
        .iter()
        .find(|f| !f.extension.is_empty() && blocked_extensions.iter().any(|b| b.eq_ignore_ascii_case(&f.extension)))
        .map(|f| format!("attachment: {}", f.label))
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
            blocked(&names_in(&raw), &blocked_ext).as_deref(),
            Some("attachment: report.zip contains invoice.exe")
        );
        let raw = message_with("Setup.EXE", b"MZ");
        assert_eq!(blocked(&names_in(&raw), &blocked_ext).as_deref(), Some("attachment: Setup.EXE"));
        let raw = message_with("renamed.txt", b"MZ");
        assert_eq!(blocked(&names_in(&raw), &blocked_ext), None, "renamed files pass");
    }
}
