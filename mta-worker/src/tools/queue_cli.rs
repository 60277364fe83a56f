//! `moat-mta queue …`: inspect and steer the delivery queue like Postfix's `mailq` /
//! `postqueue -f`. The spool files are the truth; a running worker is told through its admin
//! port (with the admin token) so it follows at once.

use clap::Subcommand;

use crate::common::config::WorkerConfig;
use crate::common::error::{WorkerError, WorkerResult};

#[derive(Subcommand)]
pub enum QueueAction {
    /// List queued messages (like `mailq`).
    List,
    /// Retry every queued message now (like `postqueue -f`).
    Flush,
    /// Remove one message from the queue.
    Remove { id: String },
}

/// Runs one queue command against the spool (and tells a running worker, best effort).
pub fn run(config: WorkerConfig, action: QueueAction) -> WorkerResult<()> {
    let spool = crate::delivery::spool::Spool::open(config.spool_dir())?;
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
            let n = crate::delivery::queue::flush_files(&spool)?;
            let told = poke("/queue/rescan", reqwest::Method::POST).is_some();
            println!(
                "{n} message(s) set to retry now{}",
                if told { "" } else { " (worker not running: at its next start)" }
            );
        }
        QueueAction::Remove { id } => {
            if !crate::delivery::spool::is_valid_id(&id) {
                return Err(WorkerError::Usage(format!("`{id}` is not a queue id")));
            }
            if spool.remove(&id)? {
                poke(&format!("/queue/{id}"), reqwest::Method::DELETE);
                println!("removed {id}");
            } else {
                return Err(WorkerError::Usage(format!("no queued message {id}")));
            }
        }
    }
    Ok(())
}
