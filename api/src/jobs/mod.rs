//! Scheduled jobs of the API. Each takes a named lease in the database before it works, so
//! with several API replicas one runs it at a time; a replica that dies loses its lease
//! when it expires.

pub mod digests;
pub mod retention;
pub mod system_mail;

use std::time::Duration;

use crate::state::AppState;

/// How long a lease lasts; the holder renews it every pass, well within it.
pub const LEASE: Duration = Duration::from_secs(30);

/// Starts every scheduled job in the background.
pub fn spawn(state: &AppState) {
    tokio::spawn(system_mail::run(state.clone(), holder(state)));
    tokio::spawn(retention::run(state.clone(), holder(state)));
    tokio::spawn(digests::run(state.clone(), holder(state)));
}

/// This replica's name in leases: its host and listening address, so a replica restarted
/// in place takes its own lease back at once (the old process cannot still hold that port).
fn holder(state: &AppState) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{}@{}", state.config.http_listen, host.trim())
}

/// Takes (or renews) the lease `name` for `holder`; false while another replica holds it.
pub async fn lease(state: &AppState, name: &str, holder: &str) -> bool {
    let until = crate::store::now() + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(60));
    match state.store.take_lease(name, holder, until).await {
        Ok(taken) => taken,
        Err(err) => {
            tracing::warn!(%err, job = name, "cannot take the job lease");
            false
        }
    }
}
