//! `moat-api`: serve the API, or administer the database from the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use moat_api::auth::tokens::{NODE_TOKEN_PREFIX, random_secret, sha256_hex};
use moat_api::config::Config;
use moat_api::store::Store;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "moat-api", version, about = "Moat API: tenants, users, policy and held mail")]
struct Cli {
    /// Configuration file (default: ./moat.toml when present).
    #[arg(long, global = true, env = "MOAT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrations run first).
    Serve,
    /// Manage platform admins.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Manage MTA worker nodes.
    Node {
        #[command(subcommand)]
        action: NodeAction,
    },
    /// Quarantine digests.
    Digests {
        #[command(subcommand)]
        action: DigestAction,
    },
    /// Retention of stored mail, tracking and statistics.
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum RetentionAction {
    /// One retention pass now (purges, statistics compaction) and exit; `serve` does this
    /// hourly on its own.
    Run,
}

#[derive(Subcommand)]
enum DigestAction {
    /// Make every digest due now (or at `--at`, RFC 3339) once, put them in the system-mail
    /// outbox and exit; `serve` does this every few seconds on its own.
    Run {
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create a platform admin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "MOAT_ADMIN_PASSWORD")]
        password: String,
    },
}

#[derive(Subcommand)]
enum NodeAction {
    /// Register an MTA node; its token is printed as the last line.
    Create {
        #[arg(long)]
        name: String,
    },
    /// Revoke a node's token at once: the worker using it is refused from then on (create a
    /// new node to replace it).
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config);
    match cli.command {
        Command::Serve => {
            let state = moat_api::build_state(config).await?;
            if state.config.demo_seed {
                print_demo_banner(&state.config);
            }
            moat_api::serve(state).await
        }
        Command::Admin { action: AdminAction::Create { email, password } } => {
            let store = Store::connect(config.database_url.expose()).await?;
            let admin = moat_api::seed::create_platform_admin(&store, &email, &password).await?;
            println!("created platform admin {} ({})", admin.email, admin.id);
            Ok(())
        }
        Command::Node { action: NodeAction::Create { name } } => {
            let store = Store::connect(config.database_url.expose()).await?;
            let token = format!("{NODE_TOKEN_PREFIX}{}", random_secret());
            let id = store
                .create_node(name.trim(), &sha256_hex(&token))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot create node")?;
            println!("created node {name} ({id}); its token (shown once):");
            println!("{token}");
            Ok(())
        }
        Command::Node { action: NodeAction::Revoke { name } } => {
            let store = Store::connect(config.database_url.expose()).await?;
            let revoked = store.revoke_node(name.trim()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(revoked, "no node named {name} with a live token");
            println!("revoked node {name}");
            Ok(())
        }
        Command::Digests { action: DigestAction::Run { at } } => {
            let state = moat_api::build_state(config).await?;
            let started = std::time::Instant::now();
            let at = at.unwrap_or_else(|| state.config.schedule_now());
            let queued = moat_api::jobs::digests::pass(&state, at).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{queued} digests queued in {:.2} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Retention { action: RetentionAction::Run } => {
            let state = moat_api::build_state(config).await?;
            let started = std::time::Instant::now();
            let (held, tracked) = moat_api::jobs::retention::purge_once(&state).await;
            println!("{held} stored and {tracked} tracked messages purged in {:.2} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Openapi => {
            print!("{}", moat_api::http::OPENAPI_JSON.as_str());
            Ok(())
        }
    }
}

fn init_tracing(config: &Config) {
    let filter =
        EnvFilter::try_from_env("MOAT_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn print_demo_banner(config: &Config) {
    println!("Moat demo: open {}", config.public_url());
    for (role, email, password) in moat_api::seed::DEMO_LOGINS {
        println!("  {role:<15} {email:<22} password: {password}");
    }
}
