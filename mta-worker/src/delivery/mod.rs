//! The delivery stage: the durable spool, the retry schedule, delivery attempts (MX lookup,
//! SMTP client with TLS) and bounces (DSNs).

pub mod attempt;
pub mod dsn;
pub mod queue;
pub mod spool;
