//! Commands beside the node: offline learning and scanning, and the queue commands.

pub mod offline;
pub mod queue_cli;
