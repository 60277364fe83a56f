//! One delivery attempt of one route: connect to the destination (STARTTLS per policy),
//! send the envelope recipient by recipient, then the message. Each recipient ends
//! delivered, deferred (4xx, network, TLS) or failed (5xx).

use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use mail_send::smtp::message::Parameters;
use mail_send::smtp::tls::build_tls_connector;
use mail_send::{SmtpClient, SmtpClientBuilder};
use moat_openapi::TlsMode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The fate of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered(String),
    Deferred(String),
    Failed(String),
}

/// Where to connect: hosts in order of preference, with the TLS rule.
#[derive(Debug, Clone)]
pub struct Destination {
    pub hosts: Vec<(String, u16)>,
    pub tls: TlsMode,
}

fn classify(err: &mail_send::Error) -> Outcome {
    match err {
        mail_send::Error::UnexpectedReply(r) if r.code >= 500 => {
            Outcome::Failed(format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], r.message))
        }
        mail_send::Error::UnexpectedReply(r) => {
            Outcome::Deferred(format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], r.message))
        }
        other => Outcome::Deferred(format!("{other}")),
    }
}

/// Resolves the MX hosts of `domain` (falling back to the domain itself, RFC 5321 §5.1)
/// to addresses, in order of preference, through the worker's own resolver.
pub async fn mx_hosts(resolver: &TokioResolver, domain: &str, port: u16) -> Result<Vec<(String, u16)>, Outcome> {
    let exchanges = match resolver.mx_lookup(domain).await {
        Ok(lookup) => {
            let mut records: Vec<(u16, String)> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_utf8().trim_end_matches('.').to_string())),
                    _ => None,
                })
                .collect();
            records.sort();
            if records.len() == 1 && records[0].1.is_empty() {
                return Err(Outcome::Failed(format!("550 5.1.10 {domain} accepts no mail (null MX)")));
            }
            records.into_iter().map(|(_, host)| host).collect()
        }
        Err(err) if err.is_no_records_found() => vec![domain.to_string()],
        Err(err) => return Err(Outcome::Deferred(format!("DNS lookup of {domain} failed: {err}"))),
    };
    let mut hosts = Vec::new();
    for exchange in exchanges {
        match resolver.lookup_ip(exchange.as_str()).await {
            Ok(ips) => hosts.extend(ips.iter().map(|ip| (ip.to_string(), port))),
            Err(err) => tracing::info!(%exchange, %err, "MX host has no address"),
        }
    }
    if hosts.is_empty() {
        return Err(Outcome::Deferred(format!("no reachable mail host for {domain}")));
    }
    Ok(hosts)
}

/// The first internal address `host` is or resolves to (see
/// [`moat_openapi::is_internal_address`]), if any; a name that does not resolve is left to the
/// delivery attempt to report.
pub async fn internal_address(resolver: &TokioResolver, host: &str) -> Option<std::net::IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return moat_openapi::is_internal_address(ip).then_some(ip);
    }
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    let ips = resolver.lookup_ip(host).await.ok()?;
    ips.iter().find(|ip| moat_openapi::is_internal_address(*ip))
}

/// The TLS client set-ups, built once: building one reads and parses the system's whole
/// CA store, which cost more CPU than the rest of a delivery together (found by profiling
/// the relay benchmark).
pub struct Connectors {
    pub verified: TlsConnector,
    pub any_certificate: TlsConnector,
}

pub fn connectors() -> Result<&'static Connectors, String> {
    static CONNECTORS: OnceLock<Result<Connectors, String>> = OnceLock::new();
    CONNECTORS
        .get_or_init(|| {
            Ok(Connectors { verified: build_tls_connector(false)?, any_certificate: build_tls_connector(true)? })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `host:port`, with IPv6 literals in brackets.
pub fn socket_address(host: &str, port: u16) -> String {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    }
}

/// Tries the destination's hosts in order until one takes the conversation to its end.
pub async fn attempt(
    helo: &str,
    timeout: Duration,
    dest: &Destination,
    sender: &str,
    rcpts: &[String],
    raw: &[u8],
) -> Vec<(String, Outcome)> {
    let connectors = match connectors() {
        Ok(c) => c,
        Err(err) => {
            let outcome = Outcome::Deferred(format!("TLS set-up failed: {err}"));
            return rcpts.iter().map(|r| (r.clone(), outcome.clone())).collect();
        }
    };
    let mut last = Outcome::Deferred("no destination host".into());
    for (host, port) in &dest.hosts {
        let builder = |tls: &TlsConnector| SmtpClientBuilder {
            addr: socket_address(host, *port),
            timeout,
            tls_connector: tls.clone(),
            tls_hostname: host.clone(),
            tls_implicit: false,
            credentials: None,
            is_lmtp: false,
            say_ehlo: true,
            local_host: helo.to_string(),
            local_ip: None,
        };
        let result = match dest.tls {
            TlsMode::None => match builder(&connectors.verified).connect_plain().await {
                Ok(client) => Ok(converse(no_delay_plain(client), sender, rcpts, raw).await),
                Err(e) => Err(e),
            },
            TlsMode::Required => match builder(&connectors.verified).connect().await {
                Ok(client) => Ok(converse(no_delay_tls(client), sender, rcpts, raw).await),
                Err(e) => Err(e),
            },
            // Opportunistic: encrypt when offered, without insisting on a valid certificate
            // (as MTAs do between each other); fall back to clear text when not offered.
            TlsMode::Opportunistic => match builder(&connectors.any_certificate).connect().await {
                Ok(client) => Ok(converse(no_delay_tls(client), sender, rcpts, raw).await),
                Err(mail_send::Error::MissingStartTls) => match builder(&connectors.verified).connect_plain().await {
                    Ok(client) => Ok(converse(no_delay_plain(client), sender, rcpts, raw).await),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(outcomes) => return outcomes,
            Err(err) => {
                last = match classify(&err) {
                    // A 5xx greeting from one MX is not the recipient's verdict: try the next.
                    Outcome::Failed(text) | Outcome::Deferred(text) => {
                        Outcome::Deferred(format!("{host}:{port}: {text}"))
                    }
                    other => other,
                };
                tracing::info!(%host, port, error = %err, "destination unreachable");
            }
        }
    }
    rcpts.iter().map(|r| (r.clone(), last.clone())).collect()
}

// The message's final `.` goes out as a small write after the body: with Nagle's algorithm
// on, it waits for the peer's delayed ACK (40 ms a message on Linux). Commands are strict
// request/response, so turning Nagle off costs nothing.
fn no_delay_plain(client: SmtpClient<TcpStream>) -> SmtpClient<TcpStream> {
    let _ = client.stream.set_nodelay(true);
    client
}

fn no_delay_tls(client: SmtpClient<TlsStream<TcpStream>>) -> SmtpClient<TlsStream<TcpStream>> {
    let _ = client.stream.get_ref().0.set_nodelay(true);
    client
}

async fn converse<T: AsyncRead + AsyncWrite + Unpin>(
    mut client: SmtpClient<T>,
    sender: &str,
    rcpts: &[String],
    raw: &[u8],
) -> Vec<(String, Outcome)> {
    let params = Parameters::default();
    if let Err(err) = client.mail_from(sender, &params).await {
        let outcome = classify(&err);
        return rcpts.iter().map(|r| (r.clone(), outcome.clone())).collect();
    }
    let mut outcomes = Vec::with_capacity(rcpts.len());
    let mut accepted = Vec::new();
    for rcpt in rcpts {
        match client.rcpt_to(rcpt, &params).await {
            Ok(()) => accepted.push(rcpt.clone()),
            Err(err) => outcomes.push((rcpt.clone(), classify(&err))),
        }
    }
    if accepted.is_empty() {
        let _ = client.quit().await;
        return outcomes;
    }
    // mail-send always writes `\r\n.\r\n` after the body: drop the body's own final CRLF
    // so the destination receives exactly the bytes we accepted.
    let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let data = client.data(body).await;
    let outcome = match &data {
        Ok(()) => Outcome::Delivered("250 accepted".into()),
        Err(err) => classify(err),
    };
    outcomes.extend(accepted.into_iter().map(|r| (r, outcome.clone())));
    let _ = client.quit().await;
    outcomes
}
