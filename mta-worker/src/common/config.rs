//! Worker configuration: defaults, then `moat-mta.toml` (or `--config` / `MOAT_CONFIG`),
//! then `MOAT_*` environment variables. Defaults suit `make run` on one machine.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::common::error::{WorkerError, WorkerResult};

/// A secret that `Debug` and logs never show.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

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

/// What a DNS-list score at or above the threshold does to the connection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DnsblAction {
    /// 554 at the greeting.
    Reject,
    /// The greeting delay of a bad reputation.
    Tarpit,
    /// Passed on to content scoring as points.
    Score,
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
    /// Seconds a client may take for the TLS handshake after STARTTLS.
    pub tls_handshake_timeout_secs: u64,
    /// Deliver to destinations that resolve to loopback, link-local or metadata addresses
    /// (development and tests only: otherwise a customer's or a sender's DNS could make the
    /// worker send mail into its own host).
    pub allow_internal_destinations: bool,
    /// Bearer token of the local queue endpoints (`/queue…` on `metrics_listen`); generated
    /// into `<data dir>/admin.token` (mode 0600) when not set. `/healthz` and `/metrics` stay open.
    pub admin_token: Option<Secret>,
    pub bare_newlines: BareNewlines,
    /// Delays before each retry, in seconds (the last repeats).
    pub retry_schedule_secs: Vec<u64>,
    /// A message still undelivered after this many seconds is bounced.
    pub queue_expiry_secs: u64,
    /// Simultaneous deliveries to one destination.
    pub destination_concurrency: usize,
    /// Timeout of one delivery conversation step, in seconds.
    pub delivery_timeout_secs: u64,
    /// On SIGTERM/SIGINT, how long deliveries in flight may take to finish.
    pub shutdown_grace_secs: u64,
    /// Check SPF, DKIM, ARC and DMARC on inbound mail and write `Authentication-Results`.
    pub authentication: bool,
    /// Rule weight overrides, rule name → points (e.g. `{ HTML_ONLY = 2.0 }`).
    pub rule_weights: std::collections::HashMap<String, f64>,
    /// The global spam model (from `moat-mta learn`); default `<data dir>/spam.model`.
    pub spam_model: Option<PathBuf>,
    /// Per-organisation models, `<org id>.model`; default `<data dir>/models`.
    pub models_dir: Option<PathBuf>,
    /// rspamd's controller/normal worker URL (e.g. `http://127.0.0.1:11333`); its score joins ours.
    pub rspamd_url: Option<String>,
    /// Known gateways (comma-separated CIDRs): no greeting delay, no DNSBL, no rate limits,
    /// but full content filtering. Nothing is trusted by default, loopback included.
    pub trusted_networks: String,
    /// Greeting delay for IPs without a reputation: random, from the min up to below the
    /// max (milliseconds).
    pub tarpit_unknown_min_ms: u64,
    pub tarpit_unknown_max_ms: u64,
    /// Greeting delay for IPs with a bad reputation, doubling with each offence (ms).
    pub tarpit_bad_delay_ms: u64,
    /// The longest greeting delay (ms).
    pub tarpit_max_delay_ms: u64,
    /// Send a `220-` line while the client waits (as Postfix postscreen does).
    pub greeting_teaser: bool,
    /// How long an early talker keeps a bad reputation (seconds).
    pub early_talker_penalty_secs: u64,
    /// Offences within one /24 (/64) after which the whole network waits like a bad IP.
    pub network_penalty_offences: i64,
    /// Messages after which a clean IP is trusted (no greeting delay).
    pub good_history_messages: i64,
    /// DNS lists, postscreen style: `zone[=127.0.0.[2..11]][*weight]`, comma-separated;
    /// negative weights allow-list.
    pub dnsbl_sites: String,
    /// Score at which a DNSBL listing acts.
    pub dnsbl_threshold: i32,
    /// What a listing at or above the threshold does (a value not named here fails start-up).
    pub dnsbl_action: DnsblAction,
    pub dnsbl_ttl_min_secs: u64,
    pub dnsbl_ttl_max_secs: u64,
    /// Simultaneous connections from one IP.
    pub max_connections_per_ip: usize,
    pub connections_per_ip_per_minute: u32,
    pub messages_per_ip_per_minute: u32,
    /// Greylisting (where the organisation's policy turns it on): retry no sooner than this,
    /// within the retry window; a passed triplet is remembered for the expiry (seconds).
    pub greylist_delay_secs: u64,
    pub greylist_retry_window_secs: u64,
    pub greylist_expiry_secs: u64,
    /// BATV keys, `K:secret` comma-separated (K a digit; the first signs). The same on every
    /// node; generated into the data dir when empty (one-node setups).
    pub batv_keys: Option<Secret>,
    /// How often reputation and outbound sending counts are exchanged with the API (seconds).
    pub reputation_sync_secs: u64,
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
            tls_handshake_timeout_secs: 30,
            allow_internal_destinations: false,
            admin_token: None,
            bare_newlines: BareNewlines::Reject,
            retry_schedule_secs: vec![120, 300, 600, 900, 1800, 3600, 7200],
            queue_expiry_secs: 5 * 24 * 3600,
            destination_concurrency: 4,
            delivery_timeout_secs: 60,
            shutdown_grace_secs: 10,
            authentication: true,
            rule_weights: Default::default(),
            spam_model: None,
            models_dir: None,
            rspamd_url: None,
            tls_cert: None,
            tls_key: None,
            trusted_networks: String::new(),
            tarpit_unknown_min_ms: 0,
            tarpit_unknown_max_ms: 5000,
            tarpit_bad_delay_ms: 15_000,
            tarpit_max_delay_ms: 60_000,
            greeting_teaser: true,
            early_talker_penalty_secs: 3600,
            network_penalty_offences: 3,
            good_history_messages: 10,
            dnsbl_sites: String::new(),
            dnsbl_threshold: 3,
            dnsbl_action: DnsblAction::Reject,
            dnsbl_ttl_min_secs: 60,
            dnsbl_ttl_max_secs: 3600,
            max_connections_per_ip: 20,
            connections_per_ip_per_minute: 120,
            messages_per_ip_per_minute: 240,
            greylist_delay_secs: 300,
            greylist_retry_window_secs: 2 * 24 * 3600,
            greylist_expiry_secs: 36 * 24 * 3600,
            reputation_sync_secs: 2,
            batv_keys: None,
        }
    }
}

impl WorkerConfig {
    pub fn load(file: Option<&Path>) -> WorkerResult<WorkerConfig> {
        let file = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("moat-mta.toml"));
        Figment::from(Serialized::defaults(WorkerConfig::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("MOAT_").split("__").ignore(&["config"]))
            .extract()
            .map_err(|e| WorkerError::Config(e.to_string()))
    }

    /// The trusted networks, parsed; an entry that is not a CIDR or address is an error.
    pub fn trusted(&self) -> WorkerResult<Vec<ipnet::IpNet>> {
        self.trusted_networks
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| WorkerError::Config(format!("trusted_networks: `{s}` is not a CIDR")))
            })
            .collect()
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

    /// The admin port's token: the configured one, else the one kept in the data folder
    /// (created on first use, owner-readable only).
    pub fn admin_token(&self) -> std::io::Result<String> {
        if let Some(token) = &self.admin_token {
            return Ok(token.expose().to_string());
        }
        let path = self.data_dir.join("admin.token");
        if let Ok(existing) = std::fs::read_to_string(&path)
            && existing.trim().len() >= 32
        {
            return Ok(existing.trim().to_string());
        }
        let token: String = rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        crate::common::files::write_secret_atomically(&path, token.as_bytes())?;
        Ok(token)
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

    pub fn spam_model_path(&self) -> PathBuf {
        self.spam_model.clone().unwrap_or_else(|| self.data_dir.join("spam.model"))
    }

    pub fn models_path(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| self.data_dir.join("models"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;

    #[test]
    fn the_admin_token_is_the_configured_one_or_a_private_generated_one() {
        let dir = ScratchDir::new();
        let config = WorkerConfig { data_dir: dir.path().to_path_buf(), ..WorkerConfig::default() };
        let generated = config.admin_token().unwrap();
        assert!(generated.len() >= 32);
        assert_eq!(config.admin_token().unwrap(), generated, "kept across calls (the queue CLI reads it)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("admin.token")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = WorkerConfig { admin_token: Some(Secret("from-config".into())), ..config };
        assert_eq!(configured.admin_token().unwrap(), "from-config");
    }

    #[test]
    fn a_dnsbl_action_that_is_not_one_of_the_three_fails_to_load() {
        let dir = ScratchDir::new();
        let file = dir.path().join("moat-mta.toml");
        std::fs::write(&file, "dnsbl_action = \"score\"\n").unwrap();
        assert_eq!(WorkerConfig::load(Some(&file)).unwrap().dnsbl_action, DnsblAction::Score);
        std::fs::write(&file, "dnsbl_action = \"tarpitt\"\n").unwrap();
        let err = WorkerConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("tarpitt"), "{err}");
    }
}
