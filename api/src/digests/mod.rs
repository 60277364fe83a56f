//! Quarantine digests: when each user's digest is due (`schedule`), what it says (`mail`)
//! and the signed links it carries (`links`). The scheduled job is `crate::jobs::digests`,
//! the link pages `crate::http::digest_links`.

pub mod links;
pub mod mail;
pub mod schedule;
