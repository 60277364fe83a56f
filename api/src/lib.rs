//! Moat API: the system of record for tenants, users, policy and held mail, and the HTTP
//! server that serves it together with the web app.

pub mod accounts;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod digests;
pub mod error;
pub mod extract;
pub mod features;
pub mod html;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod preview;
pub mod reasons;
pub mod seed;
pub mod state;
pub mod store;
pub mod validate;

use anyhow::Context;

use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::state::AppState;
use crate::store::Store;

/// Connects the store (running migrations) and builds the shared state.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = Store::connect(config.database_url.expose()).await?;
    let jwt = JwtKeys::load(&config)?;
    seed::bootstrap_admin(&store, &config).await?;
    if config.demo_seed {
        seed::demo(&store).await.context("demo seed failed")?;
    }
    let blobs = blobs::Blobs::open(config.data_dir.join("blobs"))?;
    let links = digests::links::LinkKey::load(&config)?;
    Ok(AppState::new(config, store, jwt, blobs, links))
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.http_listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = state.store.backend_name(), "moat-api listening");
    println!("Moat API listening on http://{addr}");
    jobs::spawn(&state);
    match &state.config.smtp_relay {
        Some(relay) => tracing::info!(%relay, "system mail goes out through the SMTP relay"),
        None => tracing::warn!("MOAT_SMTP_RELAY is not set: system mail (activation, reset) waits in the outbox"),
    }
    let app = http::router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    state.store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
