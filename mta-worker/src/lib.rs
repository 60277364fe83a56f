//! The Moat MTA worker as a library: the SMTP gateway node (`start::run`), its queue
//! commands and offline tools. `main.rs` only parses the command line.

pub mod api;
pub mod attachments;
pub mod authn;
pub mod backoff;
pub mod batv;
pub mod config;
pub mod deliver;
pub mod dnsbl;
pub mod dsn;
pub mod error;
pub mod greylist;
pub mod inbound;
pub mod metrics;
pub mod offline;
pub mod outbox;
pub mod policy;
pub mod quarantine;
pub mod queue;
pub mod queue_cli;
pub mod reputation;
pub mod rspamd;
pub mod scan;
#[cfg(test)]
mod scratch;
pub mod spool;
pub mod start;
pub mod state;
pub mod tls;
