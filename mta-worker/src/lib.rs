//! The Moat MTA worker as a library: the SMTP gateway node (`start::run`), its queue
//! commands and offline tools. `main.rs` only parses the command line.
//!
//! The folders follow the mail path, and a module uses only the folders above it in this
//! list (checked by `tests/layering.rs`):
//! `common` (config, errors, metrics, files) → `policy` (the snapshot in force) →
//! `upstream` (the API channel) → `connection` → `envelope` → `content` → `verdict` →
//! `delivery` → `node` (shared state, admin port) → `smtp` (the session) → `tools` →
//! `start`.

pub mod common;
pub mod connection;
pub mod content;
pub mod delivery;
pub mod envelope;
pub mod node;
pub mod policy;
#[cfg(test)]
mod scratch;
pub mod smtp;
pub mod start;
pub mod tools;
pub mod upstream;
pub mod verdict;
