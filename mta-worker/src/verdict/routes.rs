//! Routes: the recipients of one message that share a destination and a list treatment,
//! each judged and delivered (and retried) as one copy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::routing::{AcceptedRcpt, ListTrust, Target};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RcptState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteRcpt {
    pub address: String,
    pub state: RcptState,
    pub response: Option<String>,
}

/// The recipients of one message that share a destination, with their retry state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub tracking_id: String,
    pub org_id: Option<Uuid>,
    pub target: Target,
    pub recipients: Vec<RouteRcpt>,
    pub failures: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl Route {
    pub fn pending(&self) -> impl Iterator<Item = &RouteRcpt> {
        self.recipients.iter().filter(|r| r.state == RcptState::Pending)
    }

    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }
}

/// One route per destination, and within it per list treatment (recipients that trust the
/// sender and recipients that do not get separate copies, so each can be judged).
pub fn build_routes(rcpts: &[AcceptedRcpt], id: &str, now: DateTime<Utc>, authenticated: bool) -> Vec<Route> {
    let mut routes: Vec<(Route, ListTrust)> = Vec::new();
    for rcpt in rcpts {
        let trust = rcpt.trust(authenticated);
        let entry = RouteRcpt { address: rcpt.address.clone(), state: RcptState::Pending, response: None };
        match routes.iter_mut().find(|(r, t)| r.target == rcpt.target && *t == trust) {
            Some((route, _)) => route.recipients.push(entry),
            None => {
                let route = Route {
                    tracking_id: format!("{id}.{}", routes.len() + 1),
                    org_id: rcpt.org_id,
                    target: rcpt.target.clone(),
                    recipients: vec![entry],
                    failures: 0,
                    next_attempt_at: now,
                    last_error: None,
                };
                routes.push((route, trust));
            }
        }
    }
    routes.into_iter().map(|(route, _)| route).collect()
}
