//! Starting a node, step by step: open what lives on disk, build the shared state, bind
//! the ports, start the background tasks (policy sync, shipping to the API, the delivery
//! queue, the admin port), serve SMTP until a signal, then drain deliveries in flight.

use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::net::TcpListener;

use crate::common::config::WorkerConfig;
use crate::common::error::{AtPath, WorkerError, WorkerResult};
use crate::common::{files, metrics};
use crate::connection::{dnsbl, limits, reputation, tls};
use crate::content::{rspamd, scan};
use crate::delivery::{queue, spool};
use crate::envelope::{backscatter, batv, greylist};
use crate::node::state::{Worker, WorkerInner};
use crate::upstream::client as api;
use crate::upstream::{outbox, policy_sync, uploads};
use crate::{node, policy, smtp};

/// Who works the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueMode {
    /// A background task, as a node runs.
    Background,
    /// The caller, pass by pass (`delivery::queue::run_due`, and `learner(..).learn_once`
    /// for the training feed): how tests step the queue.
    Manual,
}

/// A started node: its state and the addresses it listens on.
pub struct Node {
    pub worker: Worker,
    pub smtp: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run(config: WorkerConfig) -> WorkerResult<()> {
    let node = start(&config, QueueMode::Background).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    // Sessions not yet answered 250 are simply dropped (the client retries); deliveries in
    // flight get a moment to record their outcome.
    node.worker.queue.drain(Duration::from_secs(config.shutdown_grace_secs)).await;
    Ok(())
}

/// Starts a node: state, ports, background tasks, and SMTP served in a task.
pub async fn start(config: &WorkerConfig, queue: QueueMode) -> WorkerResult<Node> {
    let token = config
        .node_token
        .clone()
        .filter(|t| !t.expose().trim().is_empty())
        .ok_or_else(|| WorkerError::Config("MOAT_NODE_TOKEN is required (from `moat-api node create`)".into()))?;
    let api = api::ApiClient::new(&config.api_url, token.expose())?;
    let worker = build_worker(config, api.clone())?;
    let (listener, admin) = bind(config).await?;
    let (smtp_addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    spawn_background(&worker, api, queue);
    spawn_admin_port(&worker, admin, config.admin_token()?);
    tokio::spawn(smtp::serve(worker.clone(), listener));
    Ok(Node { worker, smtp: smtp_addr, admin: admin_addr })
}

/// The resolver for MX lookups, authentication and DNS lists: the configured server, or the
/// system's.
pub fn resolver(config: &WorkerConfig) -> WorkerResult<TokioResolver> {
    let mut opts = ResolverOpts::default();
    opts.attempts = 2;
    opts.timeout = Duration::from_secs(5);
    // The resolver's cache (bounded) serves DNS lists too: answers live by their TTL within
    // these bounds, "not listed" at least the minimum.
    let (min, max) = (Duration::from_secs(config.dnsbl_ttl_min_secs), Duration::from_secs(config.dnsbl_ttl_max_secs));
    (opts.positive_min_ttl, opts.negative_min_ttl) = (Some(min), Some(min));
    (opts.positive_max_ttl, opts.negative_max_ttl) = (Some(max), Some(max));
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
            .build()
            .map_err(dns_error)?
        }
        None => Resolver::builder_tokio()
            .map_err(|e| WorkerError::Config(format!("cannot read the system DNS configuration: {e}")))?
            .with_options(opts)
            .build()
            .map_err(dns_error)?,
    })
}

fn dns_error(err: impl std::fmt::Display) -> WorkerError {
    WorkerError::Config(format!("DNS resolver: {err}"))
}

/// Opens the spool (recovering what a crash left), the outbox and the upload folder, loads
/// keys and models, and assembles the state every session and task shares.
fn build_worker(config: &WorkerConfig, api: api::ApiClient) -> WorkerResult<Worker> {
    std::fs::create_dir_all(&config.data_dir).at("cannot create", &config.data_dir)?;
    let spool = spool::Spool::open(config.spool_dir())?;
    spool.recover()?;
    let tls = tls::acceptor(config).map_err(|err| tracing::warn!(%err, "STARTTLS disabled")).ok();
    let resolver = resolver(config)?;
    let sites = dnsbl::parse_sites(&config.dnsbl_sites)?;
    let dnsbl = dnsbl::Dnsbl::new(sites);
    Ok(Worker::new(WorkerInner {
        batv: Arc::new(bounce_tags(config)?),
        sent_ids: backscatter::relayed_message_ids(),
        api,
        reputation: Arc::new(reputation::Reputation::default()),
        uploads: Arc::new(uploads::Uploads::open(config.data_dir.join("quarantine"))?),
        archive: crate::delivery::archive::Archive::open(config.data_dir.join("archive"))?,
        dnsbl,
        greylist: greylist::Greylist::new(config),
        outbound: Default::default(),
        limits: limits::Limits::new(config),
        trusted: config.trusted()?,
        authenticator: mail_auth::MessageAuthenticator(resolver.clone()),
        resolver,
        scanner: spam_scanner(config),
        rspamd: config.rspamd_url.as_deref().map(rspamd::Rspamd::new).transpose()?,
        policy: policy::Policy::default(),
        queue: queue::Queue::default(),
        metrics: Arc::new(metrics::Metrics::new()),
        spool,
        outbox: outbox::Outbox::open(config.outbox_dir())?,
        tls,
        config: Arc::new(config.clone()),
    }))
}

/// The BATV keys: configured, or one generated once into the data folder (owner-only).
fn bounce_tags(config: &WorkerConfig) -> WorkerResult<batv::Batv> {
    if let Some(keys) = &config.batv_keys {
        return batv::Batv::parse(keys.expose());
    }
    let path = config.data_dir.join("batv.key");
    if !path.exists() {
        let secret: String = rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        files::write_secret_atomically(&path, format!("0:{secret}").as_bytes())?;
    }
    batv::Batv::parse(std::fs::read_to_string(&path).at("cannot read", &path)?.trim())
}

/// The scorer with its models; models retrained on disk (by `moat-mta learn`) are picked
/// up every ten seconds without a restart.
fn spam_scanner(config: &WorkerConfig) -> scan::Scanner {
    let scanner = scan::Scanner::new(&config.rule_weights);
    scanner.watch(Some(config.spam_model_path()), Some(config.models_path()));
    let reloading = scanner.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        loop {
            every.tick().await;
            let scanner = reloading.clone();
            let _ = tokio::task::spawn_blocking(move || scanner.reload()).await;
        }
    });
    scanner
}

/// The SMTP and admin listeners.
async fn bind(config: &WorkerConfig) -> WorkerResult<(TcpListener, TcpListener)> {
    let listen = |addr| move |source| WorkerError::Listen { addr, source };
    let listener = TcpListener::bind(config.smtp_listen).await.map_err(listen(config.smtp_listen))?;
    let admin = TcpListener::bind(config.metrics_listen).await.map_err(listen(config.metrics_listen))?;
    tracing::info!(smtp = %listener.local_addr()?, metrics = %admin.local_addr()?, "moat-mta listening");
    println!("Moat MTA listening on smtp://{} (metrics http://{})", listener.local_addr()?, admin.local_addr()?);
    Ok((listener, admin))
}

/// Registration, policy sync, event and upload shipping, the exchange of reputation and
/// outbound counts, and the delivery queue.
fn spawn_background(worker: &Worker, api: api::ApiClient, queue: QueueMode) {
    let (registrar, hostname) = (api.clone(), worker.config.hostname.clone());
    tokio::spawn(async move {
        match registrar.register(&hostname).await {
            Ok(node) => tracing::info!(node = %node.name, id = %node.id, "registered with the API"),
            Err(err) => tracing::warn!(%err, "cannot register with the API yet; serving from the last snapshot"),
        }
    });
    tokio::spawn(policy_sync::sync(worker.policy.clone(), api.clone(), worker.config.snapshot_path()));
    tokio::spawn(worker.outbox.clone().ship(api.clone(), worker.metrics.clone(), worker.policy.clone()));
    let (uploads, uploader, outbox, metrics) =
        (worker.uploads.clone(), api.clone(), worker.outbox.clone(), worker.metrics.clone());
    tokio::spawn(async move { uploads.ship(uploader, outbox, metrics).await });
    let (archive, archiver) = (worker.archive.clone(), api.clone());
    tokio::spawn(async move { archive.ship(archiver).await });
    let (board, reporter) = (worker.queue.board().clone(), api.clone());
    tokio::spawn(async move { board.report_forever(reporter).await });
    let (reputation, outbound) = (worker.reputation.clone(), worker.outbound.clone());
    let every = Duration::from_secs(worker.config.reputation_sync_secs.max(1));
    let counter = api.clone();
    tokio::spawn(async move { outbound.sync(counter, every).await });
    tokio::spawn(async move { reputation.sync(api, every).await });
    let local = worker.clone();
    let intake: crate::delivery::probe::Intake =
        Arc::new(move |stream| Box::pin(crate::smtp::converse_locally(local.clone(), stream)));
    tokio::spawn(crate::delivery::release::run(worker.delivery(), worker.api.clone(), intake));
    worker.queue.load(&worker.spool);
    if queue == QueueMode::Background {
        tokio::spawn(queue::run(worker.delivery()));
        tokio::spawn(learner(worker).run(Duration::from_secs(5)));
    }
}

/// The node's learner: the training feed into its per-organisation models.
pub fn learner(worker: &Worker) -> crate::content::learning::Learner {
    crate::content::learning::Learner {
        api: worker.api.clone(),
        scanner: worker.scanner.clone(),
        models_dir: worker.config.models_path(),
        cursor: worker.config.data_dir.join("training.cursor"),
    }
}

/// `/healthz`, `/metrics` and the token-guarded queue endpoints.
fn spawn_admin_port(worker: &Worker, admin: TcpListener, token: String) {
    let router = node::admin::router(worker.clone(), token);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(admin, router).await {
            tracing::error!(%err, "metrics server stopped");
        }
    });
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
