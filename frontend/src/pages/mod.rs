//! One module per screen.

pub mod account;
pub mod alerts;
pub mod api_keys;
pub mod archive;
pub mod audit;
pub mod continuity;
pub mod diagnostics;
pub mod digest;
pub mod domain;
pub mod features;
pub mod home;
pub mod lists;
pub mod login;
pub mod msps;
pub mod orgs;
pub mod policy;
pub mod quarantine;
pub mod stats;
pub mod system_mail;
pub mod tracking;
pub mod user;
