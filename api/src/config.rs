//! Configuration: built-in defaults, then `moat.toml` (or the file named by `--config` /
//! `MOAT_CONFIG`), then `MOAT_*` environment variables (`__` nests). Every default works
//! for `make run`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret string: usable, but never printed by `Debug` or logs.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite:PATH` (created if missing) or `postgres://…`.
    pub database_url: Secret,
    /// Address the HTTP server binds.
    pub http_listen: SocketAddr,
    /// Folder for the SQLite file, blobs and generated keys.
    pub data_dir: PathBuf,
    /// Base URL users reach the web app at (used in emailed links); default
    /// `http://{http_listen}`.
    pub public_url: Option<String>,
    /// HS256 key for access tokens; generated into `data_dir/jwt.key` when empty.
    pub jwt_secret: Option<Secret>,
    /// Access token lifetime in seconds.
    pub jwt_ttl_secs: i64,
    /// Created as platform admin at start-up when no platform admin exists.
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<Secret>,
    /// Seed the demo MSP, org `example.test` and users at start-up (idempotent).
    pub demo_seed: bool,
    /// Folder of the built SPA served at `/`.
    pub frontend_dir: PathBuf,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Days a reverse-whitelist entry lives without new mail to that correspondent.
    pub reverse_whitelist_days: i64,
    /// Platform branding of the web app and emails.
    pub branding: BrandingConfig,
    /// Login attempts allowed per account per minute.
    pub login_attempts_per_account: u32,
    /// Login attempts allowed per client IP per minute.
    pub login_attempts_per_ip: u32,
    /// The largest message (bytes, as a worker stamps it) the API takes from workers; workers
    /// learn it from the policy snapshot and never accept larger mail over SMTP.
    pub max_message_size: usize,
    /// Largest CSV body (`/orgs/{id}/users/import`, `users_csv` of provisioning), bytes.
    pub max_csv_bytes: usize,
    /// Let organisation and MSP admins point a domain at loopback, link-local or cloud
    /// metadata addresses (development and tests only; the platform admin always may).
    pub allow_internal_destinations: bool,
    /// The SMTP relay system mail (activation, reset) leaves through, `host:port`; unset,
    /// system mail waits in the outbox (its state says so).
    pub smtp_relay: Option<String>,
    /// How to talk to the relay: `starttls` (default), `tls` (implicit) or `none` (plain,
    /// for a relay on loopback).
    pub smtp_relay_tls: RelayTls,
    pub smtp_relay_user: Option<String>,
    pub smtp_relay_password: Option<Secret>,
    /// How system mail leaves: `relay` (`smtp_relay`) or `worker` (a job a Moat worker
    /// delivers with its own queue, retries and DSNs).
    pub system_mail_via: moat_openapi::SystemMailVia,
    /// The envelope sender and `From:` address of system mail.
    pub system_mail_from: String,
    /// Days message tracking keeps a message (its events too) after its last change.
    pub tracking_retention_days: i64,
    /// HMAC key of digest links (at least 32 characters); generated into
    /// `data_dir/link.key` when empty. Changing it voids every link already mailed.
    pub link_secret: Option<Secret>,
    /// Testing only: scheduled digests read "now" (RFC 3339) from this file instead of the
    /// system clock, so a test can drive the clock to a user's local digest time.
    pub clock_file: Option<PathBuf>,
}

/// TLS towards the system-mail relay.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BrandingConfig {
    pub product_name: String,
    pub logo_url: Option<String>,
    pub primary_color: String,
}

impl Default for BrandingConfig {
    fn default() -> Self {
        BrandingConfig { product_name: "Moat".into(), logo_url: None, primary_color: "#0b6e5f".into() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: Secret::new("sqlite:./data/moat.db"),
            http_listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            jwt_secret: None,
            jwt_ttl_secs: 8 * 3600,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            demo_seed: false,
            frontend_dir: PathBuf::from("frontend/dist"),
            log_format: "text".into(),
            branding: BrandingConfig::default(),
            reverse_whitelist_days: 120,
            login_attempts_per_account: 10,
            login_attempts_per_ip: 30,
            max_message_size: 25 * 1024 * 1024,
            max_csv_bytes: 16 * 1024 * 1024,
            allow_internal_destinations: false,
            smtp_relay: None,
            smtp_relay_tls: RelayTls::Starttls,
            smtp_relay_user: None,
            smtp_relay_password: None,
            system_mail_via: moat_openapi::SystemMailVia::Relay,
            system_mail_from: "no-reply@moat.localhost".into(),
            tracking_retention_days: 90,
            link_secret: None,
            clock_file: None,
        }
    }
}

/// Room for the metadata beside a base64 message in a quarantine upload.
const UPLOAD_METADATA_BYTES: usize = 1024 * 1024;
/// Largest body of every other request.
pub const SMALL_BODY_BYTES: usize = 1024 * 1024;
/// Largest event batch a worker sends (workers cut their batches to it).
pub const MAX_EVENT_BATCH_BYTES: usize = 8 * 1024 * 1024;

impl Config {
    /// What workers may send: the snapshot tells them, the routes enforce it.
    pub fn channel_limits(&self) -> moat_openapi::ChannelLimits {
        let base64 = self.max_message_size.div_ceil(3) * 4;
        moat_openapi::ChannelLimits {
            max_message_bytes: self.max_message_size as u64,
            max_upload_bytes: (base64 + UPLOAD_METADATA_BYTES) as u64,
            max_event_batch_bytes: MAX_EVENT_BATCH_BYTES as u64,
        }
    }

    /// The base URL for links, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.http_listen),
        }
    }

    /// "Now" for scheduled digests: the system clock, or the time in `clock_file` (tests).
    pub fn schedule_now(&self) -> chrono::DateTime<chrono::Utc> {
        let from_file = self.clock_file.as_ref().and_then(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.to_utc())
        });
        from_file.unwrap_or_else(crate::store::now)
    }

    /// Loads defaults → TOML file (if present) → `MOAT_*` environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let file = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("moat.toml"));
        let config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("MOAT_").split("__").ignore(&["config"]))
            .extract()?;
        Ok(config)
    }
}
