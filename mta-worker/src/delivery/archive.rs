//! Live Archive copies on their way to the API. Every message accepted for delivery (and
//! every message sent from the archive) gets a second name in `archive/` beside its spool
//! file: a hard link, so keeping it costs no copy and no extra fsync before the `250`, and
//! delivering and removing the spooled message leaves the copy whole. The shipper reads
//! each copy's envelope, makes one upload per organisation (the raw message once, with a
//! mailbox row per recipient on a customer route and a Sent row for an outbound sender),
//! hands it to the API (idempotent by id) and removes the copy. A copy the API refuses for
//! good is moved to `archive/refused/` for an operator.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moat_openapi::{ArchiveMailboxRef, ArchiveUpload, Direction, Mailbox};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::common::error::WorkerResult;
use crate::delivery::spool::{QueuedMessage, Spool, is_valid_id};
use crate::envelope::routing::Target;
use crate::upstream::client::ApiClient;

#[derive(Clone)]
pub struct Archive(Arc<Inner>);

struct Inner {
    dir: PathBuf,
    wake: Notify,
}

impl Archive {
    pub fn open(dir: PathBuf) -> WorkerResult<Archive> {
        std::fs::create_dir_all(dir.join("refused"))?;
        Ok(Archive(Arc::new(Inner { dir, wake: Notify::new() })))
    }

    /// Keeps an archive copy of the spooled message `msg` (call once it is durable).
    pub async fn keep(&self, spool: &Spool, msg: &QueuedMessage) -> WorkerResult<()> {
        let (spool, id, path) = (spool.clone(), msg.id.clone(), self.0.dir.join(format!("{}.msg", msg.id)));
        tokio::task::spawn_blocking(move || spool.link_to(&id, &path)).await.map_err(std::io::Error::other)??;
        self.0.wake.notify_one();
        Ok(())
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.0.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "msg")
                            && p.file_stem().and_then(|s| s.to_str()).is_some_and(is_valid_id)
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Ships copies to the API forever.
    pub async fn ship(&self, api: ApiClient) {
        loop {
            let failed = !self.ship_once(&api).await;
            let wait = if failed { Duration::from_secs(2) } else { Duration::from_secs(1) };
            let _ = tokio::time::timeout(wait, self.0.wake.notified()).await;
        }
    }

    /// Hands over every waiting copy; false when the API could not be reached (the rest
    /// wait for the next pass).
    pub async fn ship_once(&self, api: &ApiClient) -> bool {
        for path in self.files() {
            let Ok(bytes) = tokio::fs::read(&path).await else { continue };
            let Some((msg, raw)) = Spool::parse(&bytes) else {
                tracing::error!(path = %path.display(), "an archive copy is unreadable; kept aside");
                self.set_aside(&path);
                continue;
            };
            for upload in uploads(&msg, raw) {
                match api.post_archive(&upload).await {
                    Ok(()) => {}
                    Err(err) if err.is_refusal() => {
                        tracing::error!(%err, id = %upload.id, "the API refused an archive copy; kept aside");
                        self.set_aside(&path);
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot hand archive copies to the API yet");
                        return false;
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        true
    }

    fn set_aside(&self, path: &std::path::Path) {
        if let Some(name) = path.file_name() {
            let _ = std::fs::rename(path, self.0.dir.join("refused").join(name));
        }
    }
}

/// One upload per organisation of the message's routes: a mailbox row for each recipient
/// of a customer route (its delivery state is that route's), and a Sent row for the sender
/// of outbound mail (under the relaying organisation, with its first route's state).
pub fn uploads(msg: &QueuedMessage, raw: &[u8]) -> Vec<ArchiveUpload> {
    let mut by_org: BTreeMap<Uuid, Vec<ArchiveMailboxRef>> = BTreeMap::new();
    for route in &msg.routes {
        let Some(org) = route.org_id else { continue };
        if matches!(route.target, Target::Customer { .. }) {
            let rows = by_org.entry(org).or_default();
            for rcpt in &route.recipients {
                rows.push(ArchiveMailboxRef {
                    address: rcpt.address.clone(),
                    mailbox: Mailbox::Inbox,
                    tracking_id: route.tracking_id.clone(),
                });
            }
        }
    }
    if msg.direction == Direction::Outbound && !msg.sender.is_empty() {
        let relay = msg.routes.iter().find(|r| matches!(r.target, Target::Mx { .. })).or(msg.routes.first());
        if let Some((org, tracking_id)) = relay.and_then(|r| Some((r.org_id?, r.tracking_id.clone()))) {
            by_org.entry(org).or_default().push(ArchiveMailboxRef {
                address: msg.sender.clone(),
                mailbox: Mailbox::Sent,
                tracking_id,
            });
        }
    }
    let raw_base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
    let several = by_org.len() > 1;
    by_org
        .into_iter()
        .enumerate()
        .map(|(n, (org_id, mailboxes))| ArchiveUpload {
            id: if several { format!("{}-{}", msg.id, n + 1) } else { msg.id.clone() },
            org_id,
            direction: msg.direction,
            sender: msg.sender.clone(),
            received_at: msg.received_at,
            mailboxes,
            raw_base64: raw_base64.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::routes::{RcptState, Route, RouteRcpt};
    use moat_openapi::TlsMode;

    fn route(n: usize, org: Option<Uuid>, target: Target, rcpts: &[&str]) -> Route {
        Route {
            tracking_id: format!("20260101000000ABCDEF123456.{n}"),
            org_id: org,
            target,
            recipients: rcpts
                .iter()
                .map(|a| RouteRcpt { address: a.to_string(), state: RcptState::Pending, response: None })
                .collect(),
            failures: 0,
            next_attempt_at: chrono::Utc::now(),
            last_error: None,
        }
    }

    fn customer(domain: &str) -> Target {
        Target::Customer { domain: domain.into(), host: "192.0.2.1".into(), port: 25, tls: TlsMode::None }
    }

    #[test]
    fn one_upload_per_organisation_with_inbox_rows_and_the_senders_sent_row() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut msg = QueuedMessage::generated(
            "ann@a.test",
            "mx.test",
            Direction::Outbound,
            "hi",
            3,
            (Target::Mx { domain: "ext.test".into() }, Some(a)),
            "x@ext.test",
        );
        msg.routes.push(route(2, Some(a), customer("a.test"), &["bob@a.test", "cy@a.test"]));
        msg.routes.push(route(3, Some(b), customer("b.test"), &["dee@b.test"]));
        let uploads = uploads(&msg, b"raw");
        assert_eq!(uploads.len(), 2, "one per organisation");
        let of = |org| uploads.iter().find(|u| u.org_id == org).unwrap();
        let rows = |org| of(org).mailboxes.iter().map(|m| (m.address.as_str(), m.mailbox)).collect::<Vec<_>>();
        assert_eq!(
            rows(a),
            [("bob@a.test", Mailbox::Inbox), ("cy@a.test", Mailbox::Inbox), ("ann@a.test", Mailbox::Sent)]
        );
        assert_eq!(rows(b), [("dee@b.test", Mailbox::Inbox)]);
        assert_eq!(of(a).mailboxes[2].tracking_id, msg.routes[0].tracking_id, "Sent follows the outbound route");
        assert_ne!(of(a).id, of(b).id);
        assert!(uploads.iter().all(|u| u.raw_base64 == "cmF3"));
    }

    #[test]
    fn inbound_mail_to_external_routes_only_is_not_archived() {
        let msg = QueuedMessage::generated(
            "",
            "mx.test",
            Direction::Inbound,
            "bounce",
            3,
            (Target::Mx { domain: "ext.test".into() }, None),
            "x@ext.test",
        );
        assert!(uploads(&msg, b"raw").is_empty());
    }
}
