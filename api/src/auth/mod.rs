//! Authentication (who is calling) and authorisation (what it may reach), in one place.

pub mod caller;
pub mod node;
pub mod passwords;
pub mod tokens;

pub use caller::Caller;
