//! The delivery stage: the durable spool, the retry schedule, delivery attempts (MX lookup,
//! SMTP client with TLS), bounces (DSNs) and releases from quarantine.

pub mod attempt;
pub mod dsn;
pub mod queue;
pub mod release;
pub mod spool;
