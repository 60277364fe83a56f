//! The digest a user gets: its held messages, each with the plain-word reason and signed
//! links to release, release and allow the sender, or view it; text and HTML, in the
//! platform's branding, times in the user's time zone.

use chrono::{DateTime, Duration, Utc};
use moat_openapi::QuarantineItem;
use uuid::Uuid;

use super::links::{LinkAction, LinkClaim, LinkKey};
use crate::config::Config;
use crate::html::escape;
use crate::store::{SystemMail, UserRecord};

/// The most messages one digest lists (the rest are counted and one click away).
pub const MAX_DIGEST_ITEMS: i64 = 100;

/// One listed message: the item (with its explanation) and until when its links work.
#[derive(Debug, Clone)]
pub struct DigestEntry {
    pub item: QuarantineItem,
    pub links_expire: DateTime<Utc>,
}

impl DigestEntry {
    /// Links work as long as the message is kept: its organisation's retention.
    pub fn new(item: QuarantineItem, retention_days: u32) -> DigestEntry {
        let links_expire = item.received_at + Duration::days(i64::from(retention_days.max(1)));
        DigestEntry { item, links_expire }
    }
}

/// The link of one action on one entry.
pub fn link(config: &Config, key: &LinkKey, user: Uuid, entry: &DigestEntry, action: LinkAction) -> String {
    let claim = LinkClaim { user_id: user, message_id: entry.item.id.clone(), action, expires_at: entry.links_expire };
    format!("{}/d/{}", config.public_url(), key.sign(&claim))
}

/// The digest mail for `user` listing `entries` of `total` held.
pub fn build(config: &Config, key: &LinkKey, user: &UserRecord, entries: &[DigestEntry], total: i64) -> SystemMail {
    let zone = super::schedule::zone(&user.time_zone);
    let product = &config.branding.product_name;
    let subject = match total {
        1 => format!("{product}: 1 message held for you"),
        n => format!("{product}: {n} messages held for you"),
    };
    let quarantine_url = format!("{}/quarantine", config.public_url());
    let mut text = format!(
        "Hello {},\n\n{product} held {total} message(s) addressed to you. Release what you want; the rest is \
         deleted after a while.\n\n",
        user.display_name
    );
    let mut rows = String::new();
    for entry in entries {
        let when = entry.item.received_at.with_timezone(&zone).format("%a %-d %b %H:%M").to_string();
        let reason = entry.item.explanation.as_ref().map(|e| e.text.clone()).unwrap_or_default();
        let [release, allow, view] = [LinkAction::Release, LinkAction::ReleaseAllow, LinkAction::View]
            .map(|a| link(config, key, user.id, entry, a));
        text.push_str(&format!(
            "* {subject}\n  from {sender}, {when}\n  {reason}\n  Release: {release}\n  Release and allow the sender: \
             {allow}\n  View: {view}\n\n",
            subject = entry.item.subject,
            sender = entry.item.sender,
        ));
        rows.push_str(&html_row(
            &entry.item,
            &when,
            &reason,
            [&release, &allow, &view],
            &config.branding.primary_color,
        ));
    }
    let more = total - entries.len() as i64;
    if more > 0 {
        text.push_str(&format!("… and {more} more: {quarantine_url}\n"));
    }
    text.push_str(&format!("\nYour quarantine: {quarantine_url}\nTimes are in {}.\n", user.time_zone));
    let html = html_page(config, user, total, &rows, more, &quarantine_url);
    SystemMail {
        id: Uuid::new_v4(),
        recipient: user.email.clone(),
        subject,
        body: text,
        html,
        created_at: crate::store::now(),
    }
}

fn html_row(item: &QuarantineItem, when: &str, reason: &str, [release, allow, view]: [&str; 3], color: &str) -> String {
    let button = |href: &str, label: &str| {
        format!(
            "<a href=\"{}\" style=\"display:inline-block;margin:2px 6px 2px 0;padding:6px 10px;border-radius:4px;\
             background:{};color:#fff;text-decoration:none;font-size:13px\">{label}</a>",
            escape(href),
            escape(color)
        )
    };
    format!(
        "<tr><td style=\"padding:10px 8px;border-bottom:1px solid #ddd\"><div style=\"font-weight:bold\">{subject}</div>\
         <div style=\"color:#555;font-size:13px\">from {sender} · {when}</div>\
         <div style=\"margin:4px 0;font-size:14px\">{reason}</div>{release}{allow}\
         <a href=\"{view}\" style=\"font-size:13px\">View</a></td></tr>",
        subject = escape(&item.subject),
        sender = escape(&item.sender),
        when = escape(when),
        reason = escape(reason),
        release = button(release, "Release"),
        allow = button(allow, "Release and allow sender"),
        view = escape(view),
    )
}

fn html_page(config: &Config, user: &UserRecord, total: i64, rows: &str, more: i64, quarantine: &str) -> String {
    let product = escape(&config.branding.product_name);
    let color = escape(&config.branding.primary_color);
    let more = if more > 0 {
        format!("<p>… and {more} more in <a href=\"{}\">your quarantine</a>.</p>", escape(quarantine))
    } else {
        String::new()
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{product} digest</title></head>\
         <body style=\"font-family:sans-serif;color:#222;max-width:720px;margin:0 auto\">\
         <h1 style=\"color:{color};font-size:22px\">{product}</h1>\
         <p>Hello {name},</p><p>{product} held <strong>{total}</strong> message(s) addressed to you.</p>\
         <table style=\"border-collapse:collapse;width:100%\">{rows}</table>{more}\
         <p style=\"color:#555;font-size:13px\">Times are in {zone}. <a href=\"{quarantine}\">Open your quarantine</a>.</p>\
         </body></html>",
        name = escape(&user.display_name),
        zone = escape(&user.time_zone),
        quarantine = escape(quarantine),
    )
}
