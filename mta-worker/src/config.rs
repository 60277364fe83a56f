//! Worker configuration: defaults, then `moat-mta.toml` (or `--config` / `MOAT_CONFIG`),
//! then `MOAT_*` environment variables. Defaults suit `make run` on one machine.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret that `Debug` and logs never show.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What to do with a bare LF or bare CR inside DATA (the raw material of SMTP smuggling).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BareNewlines {
    /// Refuse the message with 550 (Postfix's `smtpd_forbid_bare_newline` behaviour).
    Reject,
    /// Turn every bare LF or CR into CRLF before spooling.
    Normalize,
    /// Keep the bytes as sent (only `<CRLF>.<CRLF>` ends DATA either way).
    Accept,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Base URL of the Moat API.
    pub api_url: String,
    /// Node token from `moat-api node create`.
    pub node_token: Option<Secret>,
    /// Address the SMTP server listens on (25 in production).
    pub smtp_listen: SocketAddr,
    /// Spool, queue, outbox and the last policy snapshot live here.
    pub data_dir: PathBuf,
    /// DNS resolver for MX lookups (default: the system's).
    pub dns_server: Option<SocketAddr>,
    /// Port used for MX hosts (25; tests point it at a local server).
    pub mx_port: u16,
    /// `/healthz`, `/metrics` and the local queue admin endpoints.
    pub metrics_listen: SocketAddr,
    /// Name in the greeting, EHLO and `Received:` headers.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised with SIZE).
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Commands one session may send before it is closed.
    pub max_commands: usize,
    /// Seconds a client may stay silent between commands.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for the rest of DATA.
    pub data_timeout_secs: u64,
    pub bare_newlines: BareNewlines,
    /// Delays before each retry, in seconds (the last repeats).
    pub retry_schedule_secs: Vec<u64>,
    /// A message still undelivered after this many seconds is bounced.
    pub queue_expiry_secs: u64,
    /// Simultaneous deliveries to one destination.
    pub destination_concurrency: usize,
    /// Timeout of one delivery conversation step, in seconds.
    pub delivery_timeout_secs: u64,
    /// PEM certificate and key for STARTTLS; a self-signed pair is generated when unset.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            api_url: "http://127.0.0.1:8080".into(),
            node_token: None,
            smtp_listen: "0.0.0.0:2525".parse().expect("valid"),
            data_dir: PathBuf::from("./data/mta"),
            dns_server: None,
            mx_port: 25,
            metrics_listen: "127.0.0.1:9125".parse().expect("valid"),
            hostname: "moat.localhost".into(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_commands: 1000,
            idle_timeout_secs: 300,
            data_timeout_secs: 600,
            bare_newlines: BareNewlines::Reject,
            retry_schedule_secs: vec![120, 300, 600, 900, 1800, 3600, 7200],
            queue_expiry_secs: 5 * 24 * 3600,
            destination_concurrency: 4,
            delivery_timeout_secs: 60,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl WorkerConfig {
    pub fn load(file: Option<&Path>) -> anyhow::Result<WorkerConfig> {
        let file = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("moat-mta.toml"));
        Ok(Figment::from(Serialized::defaults(WorkerConfig::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("MOAT_").split("__").ignore(&["config"]))
            .extract()?)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The delay before attempt number `attempt + 1` (0-based count of failures so far).
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let schedule = &self.retry_schedule_secs;
        let secs = schedule.get(failures.saturating_sub(1) as usize).or(schedule.last()).copied().unwrap_or(300);
        Duration::from_secs(secs)
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.data_dir.join("policy.json")
    }
}
