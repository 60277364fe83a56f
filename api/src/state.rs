//! Shared application state: one cheap-to-clone handle passed to every handler.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    /// Settings the process started with.
    pub config: Config,
    /// The database, whichever backend it is.
    pub store: Store,
    /// Keys that sign and check access tokens.
    pub jwt: JwtKeys,
    /// Login attempts per account (lower-cased email).
    pub login_by_account: DefaultKeyedRateLimiter<String>,
    /// Login attempts per client address.
    pub login_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Prometheus counters and histograms.
    pub metrics: Metrics,
    /// Raw messages (quarantine).
    pub blobs: crate::blobs::Blobs,
    /// The key that signs digest links.
    pub links: crate::digests::links::LinkKey,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Store,
        jwt: JwtKeys,
        blobs: crate::blobs::Blobs,
        links: crate::digests::links::LinkKey,
    ) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        AppState(Arc::new(App {
            login_by_account: RateLimiter::keyed(per_minute(config.login_attempts_per_account)),
            login_by_ip: RateLimiter::keyed(per_minute(config.login_attempts_per_ip)),
            metrics: Metrics::new(),
            config,
            store,
            jwt,
            blobs,
            links,
        }))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
