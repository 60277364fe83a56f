//! The channel to the API: the HTTP client, policy sync, the event outbox and the
//! quarantine uploads, each durable or retried so the API may be down.

pub mod client;
pub mod outbox;
pub mod policy_sync;
pub mod uploads;
