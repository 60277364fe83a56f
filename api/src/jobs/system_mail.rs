//! Sending system mail: the outbox in the database drained through the configured SMTP
//! relay (mail-send), each message built with mail-builder (text and HTML), retried with
//! backoff on temporary failures and marked failed on a permanent refusal or after the last
//! retry. Without a relay nothing is sent and the mail stays pending, as its state says.

use std::time::Duration;

use mail_builder::MessageBuilder;
use mail_send::SmtpClientBuilder;

use crate::config::{Config, RelayTls};
use crate::state::AppState;
use crate::store::SystemMail;
use moat_openapi::SystemMailVia;

/// The lease name of this job.
const JOB: &str = "system-mail";
/// How often the outbox is looked at.
const EVERY: Duration = Duration::from_secs(2);
/// Messages per pass.
const BATCH: i64 = 100;
/// Attempts before a temporarily failing message is given up.
const MAX_ATTEMPTS: i64 = 10;

/// Drains the outbox forever (while this replica holds the lease): through the relay, or
/// to the workers.
pub async fn run(state: AppState, holder: String) {
    loop {
        let via_worker = state.config.system_mail_via == SystemMailVia::Worker;
        if (via_worker || state.config.smtp_relay.is_some()) && super::lease(&state, JOB, &holder).await {
            if via_worker {
                hand_over_once(&state).await;
            } else {
                drain_once(&state).await;
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// The mail due now, with its attempts so far (none when the outbox cannot be read: logged,
/// and the next pass tries again).
async fn due_mail(state: &AppState) -> Vec<(SystemMail, i64)> {
    state.store.due_system_mail(BATCH).await.unwrap_or_else(|err| {
        tracing::warn!(%err, "cannot read the system-mail outbox");
        Vec::new()
    })
}

/// One pass towards the workers: every due mail is built, its bytes stored, and a
/// `system_mail` job made for it (the worker's report sets its state). Answers how many.
pub async fn hand_over_once(state: &AppState) -> usize {
    let due = due_mail(state).await;
    let mut handed = 0;
    for (mail, _) in due {
        let key = format!("sm-{}.eml", mail.id.simple());
        let stored = state.blobs.put(&key, build(&state.config, &mail)).await;
        let queued = match stored {
            Ok(()) => state.store.create_system_mail_job(&mail, &state.config.system_mail_from, &key).await,
            Err(err) => Err(crate::store::StoreError::internal(err)),
        };
        match queued {
            Ok(()) => handed += 1,
            Err(err) => tracing::warn!(%err, id = %mail.id, "cannot hand system mail to the workers yet"),
        }
    }
    handed
}

/// One pass: every due message is tried once. Answers how many were sent.
pub async fn drain_once(state: &AppState) -> usize {
    let Some(relay) = state.config.smtp_relay.as_deref() else { return 0 };
    let due = due_mail(state).await;
    let mut sent = 0;
    for (mail, attempts) in due {
        let outcome = send(&state.config, relay, &mail).await;
        let recorded = match &outcome {
            Ok(()) => state.store.system_mail_sent(mail.id).await,
            Err(failure) => {
                let retry_at = (!failure.permanent && attempts + 1 < MAX_ATTEMPTS)
                    .then(|| crate::store::now() + retry_delay(attempts));
                tracing::warn!(id = %mail.id, error = %failure.text, retry = retry_at.is_some(), "system mail not sent");
                state.store.system_mail_failed(mail.id, &failure.text, retry_at).await
            }
        };
        if let Err(err) = recorded {
            tracing::error!(%err, id = %mail.id, "cannot record the system mail's outcome");
        }
        sent += usize::from(outcome.is_ok());
    }
    sent
}

/// 30 s, 1 min, 2 min, … up to an hour.
fn retry_delay(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds((30i64 << attempts.clamp(0, 7)).min(3600))
}

/// Why a send failed, and whether trying again can help.
struct Failure {
    text: String,
    permanent: bool,
}

impl From<mail_send::Error> for Failure {
    fn from(err: mail_send::Error) -> Failure {
        match err {
            mail_send::Error::UnexpectedReply(r) => Failure {
                text: format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], r.message),
                permanent: r.code >= 500,
            },
            other => Failure { text: other.to_string(), permanent: false },
        }
    }
}

/// The message as sent: text and HTML parts, `From:` the platform's product name.
pub fn build(config: &Config, mail: &SystemMail) -> Vec<u8> {
    let from = (config.branding.product_name.clone(), config.system_mail_from.clone());
    let mut message = MessageBuilder::new()
        .from(from)
        .to(mail.recipient.clone())
        .subject(mail.subject.clone())
        .message_id(format!("{}@{}", mail.id.simple(), domain_of(&config.system_mail_from)))
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-generated"))
        .text_body(mail.body.clone());
    if !mail.html.is_empty() {
        message = message.html_body(mail.html.clone());
    }
    message.write_to_vec().unwrap_or_default()
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>')).unwrap_or("moat.localhost")
}

async fn send(config: &Config, relay: &str, mail: &SystemMail) -> Result<(), Failure> {
    let (host, port) = match relay.rsplit_once(':') {
        Some((host, port)) => (host.trim_matches(|c| c == '[' || c == ']'), port.parse().unwrap_or(25)),
        None => (relay, 25),
    };
    let permanent = |text: String| Failure { text, permanent: true };
    let temporary = |text: String| Failure { text, permanent: false };
    let mut builder = SmtpClientBuilder::new(host.to_string(), port)
        .map_err(temporary)?
        .implicit_tls(config.smtp_relay_tls == RelayTls::Tls)
        .helo_host(domain_of(&config.system_mail_from).to_string())
        .timeout(Duration::from_secs(30));
    if let (Some(user), Some(password)) = (&config.smtp_relay_user, &config.smtp_relay_password) {
        builder = builder.credentials((user.clone(), password.expose().to_string()));
    }
    let body = build(config, mail);
    if body.is_empty() {
        return Err(permanent("the message could not be built".into()));
    }
    let message =
        mail_send::smtp::message::Message::new(config.system_mail_from.clone(), vec![mail.recipient.clone()], body);
    match config.smtp_relay_tls {
        RelayTls::None => {
            let mut client = builder.connect_plain().await?;
            client.send(message).await?;
            let _ = client.quit().await;
        }
        RelayTls::Starttls | RelayTls::Tls => {
            let mut client = builder.connect().await?;
            client.send(message).await?;
            let _ = client.quit().await;
        }
    }
    Ok(())
}
