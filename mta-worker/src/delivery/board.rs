//! The continuity board: per customer domain, the routes waiting for its server and since
//! when every attempt failed. The queue keeps it current (a route is put on it when it is
//! queued, taken off when it is settled); the reporter sends it to the API every few
//! seconds, which shows it to the domain's users and admins. It holds one entry per queued
//! customer route, so it is as bounded as the spool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moat_openapi::{DeliveryReport, DestinationReport};

use crate::upstream::client::ApiClient;

/// How often the board is reported.
const REPORT_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<HashMap<String, DomainState>>>);

#[derive(Default)]
struct DomainState {
    /// Waiting routes by tracking id, with when their message was received.
    waiting: HashMap<String, DateTime<Utc>>,
    unreachable_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl Board {
    fn with<R>(&self, domain: &str, f: impl FnOnce(&mut DomainState) -> R) -> R {
        let key = domain.to_ascii_lowercase();
        let mut board = self.0.lock().expect("board lock");
        let state = board.entry(key.clone()).or_default();
        let answer = f(state);
        if state.waiting.is_empty() && state.unreachable_since.is_none() {
            board.remove(&key);
        }
        answer
    }

    /// A route for `domain` is queued (or still waits).
    pub fn waiting(&self, domain: &str, tracking_id: &str, received_at: DateTime<Utc>) {
        self.with(domain, |s| {
            s.waiting.insert(tracking_id.to_string(), received_at);
        });
    }

    /// A route for `domain` is settled (delivered, bounced or removed).
    pub fn settled(&self, domain: &str, tracking_id: &str) {
        self.with(domain, |s| {
            s.waiting.remove(tracking_id);
        });
    }

    /// An attempt to `domain` delivered: its server is back.
    pub fn reached(&self, domain: &str) {
        self.with(domain, |s| {
            s.unreachable_since = None;
            s.last_error = None;
        });
    }

    /// An attempt to `domain` failed with `error`.
    pub fn failed(&self, domain: &str, error: &str) {
        self.with(domain, |s| {
            s.unreachable_since.get_or_insert_with(Utc::now);
            s.last_error = Some(error.to_string());
        });
    }

    /// The tracking ids of the routes waiting for `domain`.
    pub fn waiting_routes(&self, domain: &str) -> Vec<String> {
        let board = self.0.lock().expect("board lock");
        board.get(&domain.to_ascii_lowercase()).map(|s| s.waiting.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn report(&self) -> DeliveryReport {
        let board = self.0.lock().expect("board lock");
        let mut destinations: Vec<DestinationReport> = board
            .iter()
            .map(|(domain, s)| DestinationReport {
                domain: domain.clone(),
                waiting: s.waiting.len() as i64,
                oldest_at: s.waiting.values().min().copied(),
                unreachable_since: s.unreachable_since,
                last_error: s.last_error.clone(),
            })
            .collect();
        destinations.sort_by(|a, b| a.domain.cmp(&b.domain));
        DeliveryReport { destinations }
    }

    /// Reports the board to the API forever (the whole board each time: the API replaces
    /// this node's last report, so a destination that recovered drops out).
    pub async fn report_forever(&self, api: ApiClient) {
        loop {
            if let Err(err) = api.post_delivery(&self.report()).await {
                tracing::debug!(%err, "cannot report delivery state yet");
            }
            tokio::time::sleep(REPORT_EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_unreachable_from_its_first_failure_until_a_delivery() {
        let board = Board::default();
        let t0 = Utc::now() - chrono::Duration::minutes(5);
        board.waiting("Example.test", "A.1", t0);
        board.waiting("example.test", "B.1", Utc::now());
        board.failed("example.test", "451 connection refused");
        let first = board.report();
        assert_eq!(first.destinations.len(), 1);
        let d = &first.destinations[0];
        assert_eq!((d.domain.as_str(), d.waiting, d.oldest_at), ("example.test", 2, Some(t0)));
        let since = d.unreachable_since.expect("unreachable");
        board.failed("example.test", "451 still refused");
        assert_eq!(board.report().destinations[0].unreachable_since, Some(since));
        assert_eq!(board.report().destinations[0].last_error.as_deref(), Some("451 still refused"));
        board.reached("example.test");
        board.settled("example.test", "A.1");
        let after = board.report();
        assert_eq!(after.destinations[0].waiting, 1);
        assert!(after.destinations[0].unreachable_since.is_none());
        board.settled("example.test", "B.1");
        assert!(board.report().destinations.is_empty(), "a settled, reachable domain drops out");
    }
}
