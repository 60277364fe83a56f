//! The connection stage: who is connecting, before any command — rate limits, IP
//! reputation, DNS block/allow lists, and the STARTTLS certificate.

pub mod dnsbl;
pub mod limits;
pub mod reputation;
pub mod tls;
