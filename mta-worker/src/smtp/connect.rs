//! Connection stage, before any command: rate limits, DNS lists, and the greeting delay
//! that reputation decides. While an untrusted client waits it gets a `220-` teaser; any
//! byte it sends before the final `220 ` marks it an early talker: 554, closed, logged as an
//! event, and its next connections wait longer. Trusted gateways skip all of it.

use moat_openapi::{EventDetail, EventKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Session;
use crate::common::config::DnsblAction;
use crate::connection::reputation::{Reputation, Standing};
use crate::upstream::outbox::event;

/// Refuses the connection: the reply, an event for tracking, and a log line.
pub async fn refuse<S: AsyncWrite + Unpin>(session: &mut Session, stream: &mut S, reply: &str, reason: String) {
    tracing::info!(%reason, "connection refused");
    let _ = stream.write_all(format!("{reply}\r\n").as_bytes()).await;
    let _ = stream.flush().await;
    record_refused(session, reply, reason).await;
}

/// Tracks a connection that never got to a transaction (refused, or gone in the tarpit).
async fn record_refused(session: &Session, reply: &str, reason: String) {
    let detail = EventDetail {
        direction: Some(moat_openapi::Direction::Inbound),
        client_ip: Some(session.peer.ip().to_string()),
        subject: Some(String::new()),
        response: Some(reply.to_string()),
        reasons: vec![reason],
        ..Default::default()
    };
    let id = format!("conn-{}", uuid::Uuid::new_v4().simple());
    let events =
        vec![event(&id, EventKind::Received, None, detail.clone()), event(&id, EventKind::Refused, None, detail)];
    // A failed write is logged by the outbox.
    let _ = session.worker.outbox.record(events).await;
}

/// Runs the connection checks and sends the greeting; answers false when the connection
/// was refused (and should be closed).
pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(session: &mut Session, stream: &mut S) -> std::io::Result<bool> {
    let worker = session.worker.clone();
    let ip = session.peer.ip();
    let host = worker.config.hostname.clone();
    if session.trusted {
        stream.write_all(format!("220 {host} ESMTP Moat\r\n").as_bytes()).await?;
        return Ok(true);
    }
    if worker.limits.connections.check_key(&crate::connection::limits::client_key(ip)).is_err() {
        refuse(
            session,
            stream,
            "421 4.7.0 Too many connections from your address, try again in 60 seconds",
            "connection rate".into(),
        )
        .await;
        return Ok(false);
    }
    if session.open_connections > worker.config.max_connections_per_ip {
        refuse(
            session,
            stream,
            "421 4.7.0 Too many simultaneous connections from your address, try again later",
            "concurrency".into(),
        )
        .await;
        return Ok(false);
    }
    let mut standing = worker.reputation.standing(ip, &worker.config);
    if !worker.dnsbl.sites.is_empty() {
        let listing = worker.dnsbl.check(&worker.resolver, ip).await;
        if listing.score >= worker.config.dnsbl_threshold {
            worker.reputation.record(ip, false, |r| r.dnsbl_hits += 1);
            match worker.config.dnsbl_action {
                DnsblAction::Tarpit => standing = Standing::Bad(1),
                DnsblAction::Score => session.dnsbl_score = listing.score,
                DnsblAction::Reject => {
                    let zones = listing.zones.join(", ");
                    let reply = format!("554 5.7.1 Service unavailable; client [{ip}] blocked using {zones}");
                    refuse(session, stream, &reply, format!("DNSBL score {} ({zones})", listing.score)).await;
                    return Ok(false);
                }
            }
        }
    }
    worker.reputation.record(ip, true, |r| r.connections += 1);
    let delay = Reputation::delay(standing, &worker.config);
    if !delay.is_zero() {
        let started = std::time::Instant::now();
        if worker.config.greeting_teaser {
            let teaser = format!("220-{host} ESMTP Moat\r\n");
            if stream.write_all(teaser.as_bytes()).await.is_err() || stream.flush().await.is_err() {
                gave_up(session, started).await;
                return Ok(false);
            }
        }
        let mut probe = [0u8; 512];
        tokio::select! {
            read = stream.read(&mut probe) => {
                // A reset counts as hanging up (the teaser may have met a closed socket).
                let n = read.unwrap_or(0);
                if n == 0 {
                    gave_up(session, started).await;
                    return Ok(false);
                }
                worker.reputation.early_talker(ip, &worker.config);
                refuse(session, stream, "554 5.5.0 Protocol error: talking before the greeting", format!("early talker: {n} bytes before the greeting")).await;
                return Ok(false);
            }
            _ = tokio::time::sleep(delay) => {}
        }
    }
    tracing::debug!(?standing, delay_ms = delay.as_millis() as u64, "greeting");
    stream.write_all(format!("220 {host} ESMTP Moat\r\n").as_bytes()).await?;
    Ok(true)
}

/// Real servers wait out the greeting delay; a client that hangs up during it (a bot giving
/// up) is counted as stopped by the tarpit.
async fn gave_up(session: &Session, started: std::time::Instant) {
    let waited = started.elapsed().as_millis();
    tracing::info!(waited_ms = waited as u64, "client hung up in the tarpit");
    record_refused(session, "", format!("tarpit: hung up after {waited} ms of the greeting delay")).await;
}

/// A client that pipelines before EHLO advertised PIPELINING is an early talker too.
pub fn pipelined_too_early(session: &Session, bytes_left: usize) -> bool {
    !session.trusted && bytes_left > 0 && !session.pipelining_ok
}
