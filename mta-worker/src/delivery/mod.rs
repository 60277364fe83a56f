//! The delivery stage: the durable spool, the retry schedule, delivery attempts (MX lookup,
//! SMTP client with TLS), bounces (DSNs), releases from quarantine and sends from the Live
//! Archive, the archive copies of what is delivered, the continuity board, and the messages a
//! test delivery waits on.

pub mod archive;
pub mod attempt;
pub mod board;
pub mod dsn;
pub mod probe;
pub mod queue;
pub mod release;
pub mod spool;
pub mod watch;
