//! The delivery stage: the durable spool, the retry schedule, delivery attempts (MX lookup,
//! SMTP client with TLS), bounces (DSNs), releases from quarantine and sends from the Live
//! Archive, the archive copies of what is delivered, and the continuity board.

pub mod archive;
pub mod attempt;
pub mod board;
pub mod dsn;
pub mod probe;
pub mod queue;
pub mod release;
pub mod spool;
