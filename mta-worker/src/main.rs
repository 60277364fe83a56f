//! `moat-mta`: the Moat SMTP gateway node. `run` serves SMTP and delivers; `queue …`
//! inspects and steers the delivery queue like Postfix's `mailq` / `postqueue -f`.

mod api;
mod attachments;
mod authn;
mod batv;
mod config;
mod deliver;
mod dnsbl;
mod dsn;
mod error;
mod greylist;
mod inbound;
mod metrics;
mod offline;
mod outbox;
mod policy;
mod quarantine;
mod queue;
mod reputation;
mod rspamd;
mod scan;
#[cfg(test)]
mod scratch;
mod spool;
mod state;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use tracing_subscriber::EnvFilter;

use crate::config::WorkerConfig;
use crate::state::{Worker, WorkerInner};

#[derive(Parser)]
#[command(name = "moat-mta", version, about = "Moat MTA worker: the SMTP gateway node")]
struct Cli {
    /// Configuration file (default: ./moat-mta.toml when present).
    #[arg(long, global = true, env = "MOAT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve SMTP, deliver the queue, follow the API's policy.
    Run,
    /// Inspect and steer the delivery queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Train a spam model file from raw messages, one file each (like `sa-learn`).
    Learn {
        /// The model file; created when missing, extended when present.
        #[arg(long)]
        model: PathBuf,
        /// Files or folders of spam.
        #[arg(long, num_args = 1.., action = clap::ArgAction::Append)]
        spam: Vec<PathBuf>,
        /// Files or folders of ham (wanted mail).
        #[arg(long, num_args = 1.., action = clap::ArgAction::Append)]
        ham: Vec<PathBuf>,
    },
    /// Score messages offline with the live scorer (like `spamassassin -t`):
    /// `PATH<TAB>SCORE<TAB>VERDICT<TAB>REASONS` per message. Connection and DNS stages are skipped.
    Scan {
        /// A model file from `learn` (without one, only the rules score).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Quarantine at or above this score.
        #[arg(long, default_value_t = moat_openapi::Policy::default().quarantine_threshold)]
        quarantine_at: f64,
        /// Reject at or above this score.
        #[arg(long, default_value_t = moat_openapi::Policy::default().reject_threshold)]
        reject_at: f64,
        /// Message files or folders of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum QueueAction {
    /// List queued messages (like `mailq`).
    List,
    /// Retry every queued message now (like `postqueue -f`).
    Flush,
    /// Remove one message from the queue.
    Remove { id: String },
}

fn resolver(config: &WorkerConfig) -> anyhow::Result<TokioResolver> {
    let mut opts = ResolverOpts::default();
    opts.attempts = 2;
    opts.timeout = std::time::Duration::from_secs(5);
    Ok(match config.dns_server {
        Some(addr) => {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], vec![server]),
                TokioRuntimeProvider::default(),
            )
            .with_options(opts)
            .build()?
        }
        None => {
            Resolver::builder_tokio().context("cannot read the system DNS configuration")?.with_options(opts).build()?
        }
    })
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let token = config.node_token.clone().context("MOAT_NODE_TOKEN is required (from `moat-api node create`)")?;
    let api = api::ApiClient::new(&config.api_url, token.expose())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let spool = spool::Spool::open(config.spool_dir())?;
    spool.recover()?;
    let outbox = outbox::Outbox::open(config.outbox_dir())?;
    let tls = match tls::acceptor(&config) {
        Ok(acceptor) => Some(acceptor),
        Err(err) => {
            tracing::warn!(%err, "STARTTLS disabled");
            None
        }
    };
    let trusted = config.trusted().map_err(anyhow::Error::msg)?;
    let resolver = resolver(&config)?;
    let scanner = scan::Scanner::new(&config.rule_weights);
    scanner.watch(Some(config.spam_model_path()), Some(config.models_path()));
    let reloading = scanner.clone();
    tokio::spawn(async move {
        // Models retrained on disk (by `moat-mta learn`) are picked up without a restart.
        let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            every.tick().await;
            let scanner = reloading.clone();
            let _ = tokio::task::spawn_blocking(move || scanner.reload()).await;
        }
    });
    let sites = dnsbl::parse_sites(&config.dnsbl_sites).map_err(anyhow::Error::msg)?;
    let dnsbl = dnsbl::Dnsbl::new(
        sites,
        std::time::Duration::from_secs(config.dnsbl_ttl_min_secs),
        std::time::Duration::from_secs(config.dnsbl_ttl_max_secs),
    );
    let batv = match &config.batv_keys {
        Some(keys) => batv::Batv::parse(keys.expose()).map_err(anyhow::Error::msg)?,
        None => {
            let path = config.data_dir.join("batv.key");
            if !path.exists() {
                let secret: String = rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
                    .take(32)
                    .map(char::from)
                    .collect();
                spool::write_secret_atomically(&path, format!("0:{secret}").as_bytes())?;
            }
            batv::Batv::parse(std::fs::read_to_string(&path)?.trim()).map_err(anyhow::Error::msg)?
        }
    };
    let worker = Worker::new(WorkerInner {
        batv,
        sent_ids: state::relayed_message_ids(),
        api: api.clone(),
        reputation: Arc::new(reputation::Reputation::default()),
        uploads: Arc::new(quarantine::Uploads::open(config.data_dir.join("quarantine"))?),
        dnsbl,
        greylist: greylist::Greylist::new(&config),
        limits: state::Limits::new(&config),
        trusted,
        authenticator: mail_auth::MessageAuthenticator(resolver.clone()),
        resolver,
        scanner: scanner.clone(),
        rspamd: config.rspamd_url.as_deref().map(rspamd::Rspamd::new).transpose()?,
        policy: policy::Policy::default(),
        queue: queue::Queue::default(),
        metrics: Arc::new(metrics::Metrics::new()),
        spool,
        outbox: outbox.clone(),
        tls,
        config: config.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.smtp_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.smtp_listen))?;
    let admin = tokio::net::TcpListener::bind(config.metrics_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.metrics_listen))?;
    tracing::info!(smtp = %listener.local_addr()?, metrics = %admin.local_addr()?, "moat-mta listening");
    println!("Moat MTA listening on smtp://{} (metrics http://{})", listener.local_addr()?, admin.local_addr()?);

    let registrar = api.clone();
    let hostname = config.hostname.clone();
    tokio::spawn(async move {
        match registrar.register(&hostname).await {
            Ok(node) => tracing::info!(node = %node.name, id = %node.id, "registered with the API"),
            Err(err) => tracing::warn!(%err, "cannot register with the API yet; serving from the last snapshot"),
        }
    });
    tokio::spawn(policy::sync(worker.policy.clone(), api.clone(), config.snapshot_path()));
    tokio::spawn(outbox.clone().ship(api.clone(), worker.metrics.clone()));
    let (uploads, uploader, metrics) = (worker.uploads.clone(), api.clone(), worker.metrics.clone());
    tokio::spawn(async move { uploads.ship(uploader, outbox, metrics).await });
    let reputation = worker.reputation.clone();
    let every = std::time::Duration::from_secs(config.reputation_sync_secs.max(1));
    tokio::spawn(async move { reputation.sync(api, every).await });
    worker.queue.load(&worker.spool);
    tokio::spawn(queue::run(worker.clone()));
    let admin_router = metrics::router(worker.clone(), config.admin_token()?);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(admin, admin_router).await {
            tracing::error!(%err, "metrics server stopped");
        }
    });
    tokio::select! {
        _ = inbound::serve(worker.clone(), listener) => {}
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    // Sessions not yet answered 250 are simply dropped (the client retries); deliveries in
    // flight get a moment to record their outcome.
    worker.queue.drain(std::time::Duration::from_secs(config.shutdown_grace_secs)).await;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn queue_command(config: WorkerConfig, action: QueueAction) -> anyhow::Result<()> {
    let spool = spool::Spool::open(config.spool_dir())?;
    let token = config.admin_token()?;
    let poke = |path: &str, method: reqwest::Method| {
        let url = format!("http://{}{path}", config.metrics_listen);
        let token = token.clone();
        // Best effort: tell a running worker; the files are the truth either way.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async { reqwest::Client::new().request(method, url).bearer_auth(token).send().await.ok() })
        })
        .join()
        .ok()
        .flatten()
    };
    match action {
        QueueAction::List => {
            let list = spool.list()?;
            for msg in &list {
                println!(
                    "{}  {:>8}  {}  <{}>",
                    msg.id,
                    msg.size,
                    msg.received_at.format("%Y-%m-%d %H:%M:%S"),
                    msg.sender
                );
                for route in &msg.routes {
                    for rcpt in route.pending() {
                        let why = route.last_error.clone().unwrap_or_else(|| "waiting".into());
                        println!(
                            "        <{}>  ({}; next attempt {})",
                            rcpt.address,
                            why,
                            route.next_attempt_at.format("%H:%M:%S")
                        );
                    }
                }
            }
            println!("-- {} message(s) in queue", list.len());
        }
        QueueAction::Flush => {
            let n = queue::flush_files(&spool)?;
            let told = poke("/queue/rescan", reqwest::Method::POST).is_some();
            println!(
                "{n} message(s) set to retry now{}",
                if told { "" } else { " (worker not running: at its next start)" }
            );
        }
        QueueAction::Remove { id } => {
            anyhow::ensure!(spool::is_valid_id(&id), "`{id}` is not a queue id");
            if spool.remove(&id)? {
                poke(&format!("/queue/{id}"), reqwest::Method::DELETE);
                println!("removed {id}");
            } else {
                anyhow::bail!("no queued message {id}");
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = WorkerConfig::load(cli.config.as_deref())?;
    let filter = EnvFilter::try_from_env("MOAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cli.command {
        Command::Run => tokio::runtime::Runtime::new()?.block_on(run(config)),
        Command::Queue { action } => queue_command(config, action),
        Command::Learn { model, spam, ham } => {
            anyhow::ensure!(!spam.is_empty() || !ham.is_empty(), "give --spam and/or --ham folders");
            offline::learn(&model, &spam, &ham)
        }
        Command::Scan { model, quarantine_at, reject_at, paths } => {
            offline::scan(model.as_deref(), &config.rule_weights, quarantine_at, reject_at, &paths)
        }
    }
}
