//! `moat-mta`: the Moat SMTP gateway node. `run` serves SMTP and delivers; `queue …`
//! inspects and steers the delivery queue like Postfix's `mailq` / `postqueue -f`; `learn`
//! and `scan` train and try the spam model offline. The node itself is the `moat_mta` library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use moat_mta::common::config::WorkerConfig;
use moat_mta::common::error::WorkerError;
use tracing_subscriber::EnvFilter;

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
        action: moat_mta::tools::queue_cli::QueueAction,
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

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("moat-mta: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), WorkerError> {
    let config = WorkerConfig::load(cli.config.as_deref())?;
    let filter = EnvFilter::try_from_env("MOAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cli.command {
        Command::Run => tokio::runtime::Runtime::new()?.block_on(moat_mta::start::run(config)),
        Command::Queue { action } => moat_mta::tools::queue_cli::run(config, action),
        Command::Learn { model, spam, ham } => {
            if spam.is_empty() && ham.is_empty() {
                return Err(WorkerError::Usage("give --spam and/or --ham folders".into()));
            }
            moat_mta::tools::offline::learn(&model, &spam, &ham)
        }
        Command::Scan { model, quarantine_at, reject_at, paths } => {
            moat_mta::tools::offline::scan(model.as_deref(), &config.rule_weights, quarantine_at, reject_at, &paths)
        }
    }
}
