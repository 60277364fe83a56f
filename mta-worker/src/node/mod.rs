//! The running node: its shared state and its local admin port.

pub mod admin;
pub mod state;
