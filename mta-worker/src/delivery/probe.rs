//! Test delivery: the conversation a delivery to a customer's destination would have, stage
//! by stage (MX records, DNS, TCP, banner, EHLO, STARTTLS, a RCPT probe), each with its
//! answer and time, then optionally a test message through the whole pipeline (this node's
//! own intake and filtering, the queue, a delivery attempt). The first failing stage ends it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_send::SmtpClient;
use moat_openapi::{ProbeStage, StageResult, TestDeliveryReport, TlsMode, WorkerJob};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::TcpStream;

use crate::delivery::attempt::{self, Outcome};
use crate::delivery::queue::Delivery;
use crate::delivery::watch::Watched;

/// How long each stage may take.
const STAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The stages so far.
struct Timeline {
    stages: Vec<StageResult>,
    started: Instant,
}

impl Timeline {
    fn start() -> Timeline {
        Timeline { stages: Vec::new(), started: Instant::now() }
    }

    /// Times the next stage from now (after a step that is not a stage of its own).
    fn restart(&mut self) {
        self.started = Instant::now();
    }

    /// Records a failed stage (the conversation ends there).
    fn fail(&mut self, stage: ProbeStage, answer: impl Into<String>) {
        self.record(stage, false, answer, vec![]);
    }

    /// Records a stage that began at the last mark; answers whether it passed.
    fn record(&mut self, stage: ProbeStage, ok: bool, answer: impl Into<String>, details: Vec<String>) -> bool {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stages.push(StageResult { stage, ok, micros, answer: answer.into(), details });
        self.started = Instant::now();
        ok
    }
}

fn reply_line(r: &smtp_proto::Response<String>) -> String {
    format!("{} {}", r.code, r.message.replace(['\r', '\n'], " "))
}

/// This node's own SMTP intake, reached in process (handed in by the node: the delivery
/// stage does not depend on the SMTP stage).
pub type Intake = Arc<dyn Fn(DuplexStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs the test delivery of `job` (its recipient is `postmaster@<domain>`; its sender, when
/// not empty, the mailbox the test message goes to). The MX check runs beside the
/// conversation (a slow DNS answer should not delay it) and comes first.
pub async fn run(delivery: &Delivery, intake: &Intake, job: &WorkerJob) -> TestDeliveryReport {
    let domain = job.recipient.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let mut mx = Timeline::start();
    let mut t = Timeline::start();
    tokio::join!(mx_stage(delivery, &domain, &mut mx), deliver(delivery, job, &domain, &mut t));
    let probe_accepted = t.stages.last().is_some_and(|s| s.stage == ProbeStage::Rcpt && s.ok);
    if probe_accepted && !job.sender.is_empty() {
        t.restart();
        through_pipeline(delivery, intake, job, &mut t).await;
    }
    mx.stages.append(&mut t.stages);
    report(delivery, mx)
}

async fn deliver(delivery: &Delivery, job: &WorkerJob, domain: &str, t: &mut Timeline) {
    let dest =
        delivery.policy.get().domain(domain).map(|d| (d.destination_host.clone(), d.destination_port, d.tls_mode));
    let Some((host, port, tls)) = dest else {
        return t.fail(ProbeStage::Dns, format!("{domain} is not a domain this node knows (yet)"));
    };
    if let Some(addr) = resolve(delivery, &host, port, t).await
        && let Some(client) = connect(addr, t).await
    {
        converse(delivery, client, &host, tls, job, t).await;
    }
}

fn report(delivery: &Delivery, t: Timeline) -> TestDeliveryReport {
    TestDeliveryReport { node: delivery.config.hostname.clone(), stages: t.stages }
}

/// The domain's public MX records, and whether one names a Moat node (this one or any
/// registered with the API). Informational: a domain still being moved may point elsewhere.
async fn mx_stage(delivery: &Delivery, domain: &str, t: &mut Timeline) {
    let ours = delivery.config.hostname.trim_end_matches('.').to_ascii_lowercase();
    match tokio::time::timeout(STAGE_TIMEOUT, delivery.resolver.mx_lookup(domain)).await {
        Ok(Ok(lookup)) => {
            let mut records: Vec<(u16, String)> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    hickory_resolver::proto::rr::RData::MX(mx) => {
                        Some((mx.preference, mx.exchange.to_utf8().trim_end_matches('.').to_ascii_lowercase()))
                    }
                    _ => None,
                })
                .collect();
            records.sort();
            let policy = delivery.policy.get();
            let moat: Vec<&str> = records
                .iter()
                .map(|(_, host)| host.as_str())
                .filter(|host| *host == ours || policy.is_node(host))
                .collect();
            let points_here = !moat.is_empty();
            let answer = if points_here {
                format!("MX points at Moat ({})", moat.join(", "))
            } else {
                format!("MX does not point at a Moat node (this one is {ours}): mail still goes elsewhere")
            };
            let details = records.iter().map(|(pref, host)| format!("MX {pref} {host}")).collect();
            t.record(ProbeStage::Mx, points_here, answer, details);
        }
        Ok(Err(err)) => {
            t.record(ProbeStage::Mx, false, format!("no MX records for {domain}: {err}"), vec![]);
        }
        Err(_) => {
            t.record(ProbeStage::Mx, false, format!("MX lookup of {domain} timed out"), vec![]);
        }
    }
}

/// The destination's first address (internal addresses refused unless allowed, as for
/// delivery).
async fn resolve(delivery: &Delivery, host: &str, port: u16, t: &mut Timeline) -> Option<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ips: Vec<std::net::IpAddr> = match bare.parse() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::time::timeout(STAGE_TIMEOUT, delivery.resolver.lookup_ip(host)).await {
            Ok(Ok(found)) => found.iter().collect(),
            Ok(Err(err)) => {
                t.record(ProbeStage::Dns, false, format!("{host} does not resolve: {err}"), vec![]);
                return None;
            }
            Err(_) => {
                t.record(ProbeStage::Dns, false, format!("resolving {host} timed out"), vec![]);
                return None;
            }
        },
    };
    let details: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
    let Some(ip) = ips.first().copied() else {
        t.record(ProbeStage::Dns, false, format!("{host} has no addresses"), vec![]);
        return None;
    };
    if !delivery.config.allow_internal_destinations && moat_openapi::is_internal_address(ip) {
        t.record(
            ProbeStage::Dns,
            false,
            format!("{host} is an internal address ({ip}); Moat does not deliver there"),
            details,
        );
        return None;
    }
    t.record(ProbeStage::Dns, true, format!("{host} → {ip}"), details);
    Some(SocketAddr::new(ip, port))
}

async fn connect(addr: SocketAddr, t: &mut Timeline) -> Option<SmtpClient<TcpStream>> {
    match SmtpClient::connect(addr, STAGE_TIMEOUT).await {
        Ok(client) => {
            t.record(ProbeStage::Connect, true, format!("connected to {addr}"), vec![]);
            Some(client)
        }
        Err(err) => {
            t.record(ProbeStage::Connect, false, format!("cannot connect to {addr}: {err}"), vec![]);
            None
        }
    }
}

/// Banner, EHLO, STARTTLS (as the domain's TLS mode says), then the envelope.
async fn converse(
    delivery: &Delivery,
    mut client: SmtpClient<TcpStream>,
    host: &str,
    tls: TlsMode,
    job: &WorkerJob,
    t: &mut Timeline,
) {
    let helo = delivery.config.hostname.clone();
    match client.read().await {
        Ok(r) if r.code == 220 => t.record(ProbeStage::Banner, true, reply_line(&r), vec![]),
        Ok(r) => return t.fail(ProbeStage::Banner, reply_line(&r)),
        Err(err) => return t.fail(ProbeStage::Banner, format!("no greeting: {err}")),
    };
    let ehlo = match client.ehlo(&helo).await {
        Ok(e) => e,
        Err(err) => return t.fail(ProbeStage::Ehlo, format!("EHLO refused: {err}")),
    };
    let offers_tls = ehlo.has_capability(smtp_proto::EXT_START_TLS);
    t.record(ProbeStage::Ehlo, true, format!("250 {}", ehlo.hostname), extensions(&ehlo));
    if tls == TlsMode::None || (!offers_tls && tls == TlsMode::Opportunistic) {
        let why =
            if tls == TlsMode::None { "not used (the domain's TLS mode is none)" } else { "not offered by the server" };
        t.record(ProbeStage::Starttls, true, format!("STARTTLS {why}"), vec![]);
        return envelope(client, job, t).await;
    }
    let connectors = match attempt::connectors() {
        Ok(c) => c,
        Err(err) => return t.fail(ProbeStage::Starttls, format!("TLS set-up failed: {err}")),
    };
    let connector = if tls == TlsMode::Required { &connectors.verified } else { &connectors.any_certificate };
    match client.start_tls(connector, host).await {
        Ok(mut secure) => {
            let details = certificate_details(secure.tls_connection());
            t.record(ProbeStage::Starttls, true, "TLS established", details);
            if let Err(err) = secure.ehlo(&helo).await {
                return t.fail(ProbeStage::Ehlo, format!("EHLO after STARTTLS refused: {err}"));
            }
            envelope(secure, job, t).await
        }
        Err(err) => t.fail(ProbeStage::Starttls, format!("STARTTLS failed: {err}")),
    }
}

/// `MAIL FROM:<>` and `RCPT TO:<postmaster@domain>`.
async fn envelope<T: AsyncRead + AsyncWrite + Unpin>(mut client: SmtpClient<T>, job: &WorkerJob, t: &mut Timeline) {
    let rcpt = format!("RCPT TO:<{}>\r\n", job.recipient);
    let answer = match client.cmd(b"MAIL FROM:<>\r\n").await {
        Ok(r) if r.code / 100 == 2 => client.cmd(rcpt.as_bytes()).await,
        other => other,
    };
    match answer {
        Ok(r) => t.record(ProbeStage::Rcpt, r.code / 100 == 2, reply_line(&r), vec![]),
        Err(err) => t.record(ProbeStage::Rcpt, false, format!("{err}"), vec![]),
    };
    let _ = client.cmd(b"QUIT\r\n").await;
}

/// The test message through this node's own intake (filtering, spool, queue) to the job's
/// test recipient, then its first delivery attempt: the intake's answer, then the destination's.
async fn through_pipeline(delivery: &Delivery, intake: &Intake, job: &WorkerJob, t: &mut Timeline) {
    let to = job.sender.as_str();
    let host = delivery.config.hostname.trim_end_matches('.').to_string();
    let message_id = format!("moat-test-{}@{host}", job.id.simple());
    let Some(outcome) = delivery.queue.watched().watch(&message_id) else {
        return t.fail(ProbeStage::Data, "too many test messages on their way at once; try again shortly");
    };
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(intake(theirs));
    let mut client = SmtpClient { stream: ours, timeout: STAGE_TIMEOUT };
    let message = test_message(job, &message_id, &host, to);
    let queued = match submit(&mut client, &host, to, &message).await {
        Ok(r) => t.record(ProbeStage::Data, r.code / 100 == 2, format!("Moat: {}", reply_line(&r)), vec![]),
        Err(err) => t.record(ProbeStage::Data, false, format!("Moat's intake: {err}"), vec![]),
    };
    if !queued {
        return;
    }
    let wait = Duration::from_secs(delivery.config.delivery_timeout_secs.clamp(10, 120) + 5);
    match tokio::time::timeout(wait, outcome).await {
        Ok(Ok(Watched::Attempted(Outcome::Delivered(text)))) => {
            t.record(ProbeStage::Delivery, true, text, vec![format!("Message-ID <{message_id}>")])
        }
        Ok(Ok(Watched::Attempted(Outcome::Deferred(text)))) => {
            t.record(ProbeStage::Delivery, false, format!("deferred: {text} (it stays queued and is retried)"), vec![])
        }
        Ok(Ok(Watched::Attempted(Outcome::Failed(text)))) => {
            t.record(ProbeStage::Delivery, false, format!("refused: {text}"), vec![])
        }
        Ok(Ok(Watched::NotQueued(why))) => t.record(
            ProbeStage::Delivery,
            false,
            format!("not delivered: Moat's filtering kept it back ({why})"),
            vec![],
        ),
        _ => t.record(
            ProbeStage::Delivery,
            false,
            format!("no delivery attempt within {} s (it stays queued)", wait.as_secs()),
            vec![],
        ),
    };
}

/// One message through an SMTP conversation: the last answer (the first that refused).
async fn submit<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    host: &str,
    to: &str,
    message: &str,
) -> mail_send::Result<smtp_proto::Response<String>> {
    let banner = client.read().await?;
    if banner.code != 220 {
        return Ok(banner);
    }
    client.ehlo(host).await?;
    for command in [format!("MAIL FROM:<postmaster@{host}>\r\n"), format!("RCPT TO:<{to}>\r\n"), "DATA\r\n".into()] {
        let answer = client.cmd(command.as_bytes()).await?;
        if answer.code / 100 != 2 && answer.code != 354 {
            return Ok(answer);
        }
    }
    let answer = client.cmd(message.as_bytes()).await?;
    let _ = client.cmd(b"QUIT\r\n").await;
    Ok(answer)
}

/// A short test message, dot-terminated.
fn test_message(job: &WorkerJob, message_id: &str, host: &str, to: &str) -> String {
    format!(
        "From: Moat test delivery <postmaster@{host}>\r\nTo: <{to}>\r\nSubject: Moat test delivery\r\n\
         Date: {date}\r\nMessage-ID: <{message_id}>\r\n\r\n\
         This message was sent by Moat's test delivery of {domain}, asked for by {who}.\r\n\
         It went through Moat's filtering and delivery queue like any mail to you.\r\n.\r\n",
        domain = job.recipient.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
        date = chrono::Utc::now().to_rfc2822(),
        who = job.released_by.chars().filter(|c| !c.is_control()).take(200).collect::<String>(),
    )
}

fn extensions(ehlo: &smtp_proto::EhloResponse<String>) -> Vec<String> {
    use smtp_proto::*;
    let known = [
        (EXT_START_TLS, "STARTTLS"),
        (EXT_SIZE, "SIZE"),
        (EXT_PIPELINING, "PIPELINING"),
        (EXT_8BIT_MIME, "8BITMIME"),
        (EXT_SMTP_UTF8, "SMTPUTF8"),
        (EXT_CHUNKING, "CHUNKING"),
        (EXT_DSN, "DSN"),
        (EXT_ENHANCED_STATUS_CODES, "ENHANCEDSTATUSCODES"),
        (EXT_REQUIRE_TLS, "REQUIRETLS"),
        (EXT_AUTH, "AUTH"),
    ];
    known.iter().filter(|(flag, _)| ehlo.has_capability(*flag)).map(|(_, name)| name.to_string()).collect()
}

/// Protocol, cipher and the leaf certificate's subject, issuer, names and validity.
fn certificate_details(conn: &tokio_rustls::rustls::ClientConnection) -> Vec<String> {
    let mut details = Vec::new();
    if let Some(v) = conn.protocol_version() {
        details.push(format!("protocol {v:?}"));
    }
    if let Some(suite) = conn.negotiated_cipher_suite() {
        details.push(format!("cipher {:?}", suite.suite()));
    }
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        details.push("no certificate".into());
        return details;
    };
    match x509_parser::parse_x509_certificate(leaf.as_ref()) {
        Ok((_, cert)) => {
            details.push(format!("subject {}", cert.subject()));
            details.push(format!("issuer {}", cert.issuer()));
            details.push(format!("valid {} to {}", cert.validity().not_before, cert.validity().not_after));
            if let Ok(Some(names)) = cert.subject_alternative_name() {
                let names: Vec<String> = names.value.general_names.iter().map(|n| n.to_string()).collect();
                details.push(format!("names {}", names.join(", ")));
            }
        }
        Err(err) => details.push(format!("certificate not readable: {err}")),
    }
    details
}
