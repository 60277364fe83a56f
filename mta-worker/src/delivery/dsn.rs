//! Delivery status notifications (RFC 3464) for recipients that failed permanently or
//! expired: a `multipart/report` to the envelope sender, from the null sender.

use chrono::Utc;
use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;

/// Builds the DSN for `failed` (address, reason) recipients of the message whose headers
/// are `original_headers`.
pub fn build(
    hostname: &str,
    sender: &str,
    queue_id: &str,
    failed: &[(String, String)],
    original_headers: &[u8],
) -> Vec<u8> {
    let mut human = format!(
        "This is the mail system at {hostname}.\r\n\r\nYour message could not be delivered to the following \
         recipients:\r\n\r\n"
    );
    for (rcpt, reason) in failed {
        human.push_str(&format!("<{rcpt}>: {reason}\r\n"));
    }
    let mut status = format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Moat-Queue-ID: {queue_id}\r\nArrival-Date: {}\r\n",
        Utc::now().to_rfc2822()
    );
    for (rcpt, reason) in failed {
        let code = reason.split_whitespace().nth(1).filter(|c| c.starts_with('5')).unwrap_or("5.0.0");
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {code}\r\nDiagnostic-Code: smtp; {reason}\r\n"
        ));
    }
    let headers = String::from_utf8_lossy(original_headers).into_owned();
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", human),
            MimePart::new("message/delivery-status", status),
            MimePart::new("text/rfc822-headers", headers),
        ],
    );
    MessageBuilder::new()
        .from(("Mail Delivery System".to_string(), format!("MAILER-DAEMON@{hostname}")))
        .to(sender.to_string())
        .subject("Undelivered Mail Returned to Sender")
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        .unwrap_or_default()
}

/// The header block of a raw message (up to the first empty line).
pub fn header_block(raw: &[u8]) -> &[u8] {
    memchr::memmem::find(raw, b"\r\n\r\n").map(|i| &raw[..i + 2]).unwrap_or(raw)
}
