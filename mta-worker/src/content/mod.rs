//! The content stage: what the message itself says — authentication (SPF, DKIM, ARC,
//! DMARC), attachments, the outbound sender binding, and scoring (rules, classifier,
//! rspamd).

pub mod attachments;
pub mod authn;
pub mod learning;
pub mod rspamd;
pub mod scan;
pub mod sender_binding;
