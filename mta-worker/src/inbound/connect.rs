//! Connection stage: the greeting. (Reputation, tarpit and early-talker checks join here
//! with the connection-defences work.)

use super::Session;

/// Sends the greeting; answers false when the connection is refused outright.
pub fn greet(session: &mut Session) -> bool {
    let host = session.worker.config.hostname.clone();
    tracing::debug!("connection accepted");
    session.replies_mut().extend_from_slice(format!("220 {host} ESMTP Moat\r\n").as_bytes());
    true
}
