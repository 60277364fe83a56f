//! What every stage shares: settings, the error type, metrics, backoff, crash-safe files.

pub mod backoff;
pub mod config;
pub mod error;
pub mod files;
pub mod metrics;
