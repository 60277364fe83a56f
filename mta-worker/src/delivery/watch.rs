//! Messages someone waits on by Message-ID (a test delivery's test message): the first
//! thing that becomes of each — a delivery attempt's outcome, or held back by filtering —
//! is handed to the waiter once. Bounded: a test delivery past the bound is told so.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::delivery::attempt::Outcome;

/// Most messages watched at once (test deliveries are at most five per organisation waiting).
const MAX_WATCHED: usize = 256;

/// What became of a watched message first.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    /// A delivery attempt to its destination, with the destination's answer.
    Attempted(Outcome),
    /// Not queued for delivery: the filtering's verdict (held, dropped) and why.
    NotQueued(String),
}

#[derive(Default)]
pub struct Watchers(Mutex<HashMap<String, oneshot::Sender<Watched>>>);

impl Watchers {
    /// Starts waiting on `message_id`; `None` when too many are watched already.
    pub fn watch(&self, message_id: &str) -> Option<oneshot::Receiver<Watched>> {
        let mut map = self.0.lock().expect("watchers");
        map.retain(|_, sender| !sender.is_closed());
        if map.len() >= MAX_WATCHED {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        map.insert(message_id.to_string(), tx);
        Some(rx)
    }

    /// Hands `what` to whoever waits on `message_id` (nothing when nobody does).
    pub fn report(&self, message_id: &str, what: impl FnOnce() -> Watched) {
        if message_id.is_empty() {
            return;
        }
        let Ok(mut map) = self.0.lock() else { return };
        if map.is_empty() {
            return;
        }
        if let Some(tx) = map.remove(message_id) {
            let _ = tx.send(what());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_reaches_the_waiter_once() {
        let watchers = Watchers::default();
        let mut rx = watchers.watch("a@b").expect("room");
        watchers.report("other@b", || Watched::NotQueued("no".into()));
        assert!(rx.try_recv().is_err());
        watchers.report("a@b", || Watched::Attempted(Outcome::Delivered("250 ok".into())));
        watchers.report("a@b", || Watched::NotQueued("late".into()));
        assert_eq!(rx.try_recv().ok(), Some(Watched::Attempted(Outcome::Delivered("250 ok".into()))));
    }

    #[test]
    fn it_is_bounded_and_forgets_waiters_that_left() {
        let watchers = Watchers::default();
        let kept: Vec<_> = (0..MAX_WATCHED).map(|i| watchers.watch(&format!("{i}@t")).expect("room")).collect();
        assert!(watchers.watch("one-more@t").is_none());
        drop(kept);
        assert!(watchers.watch("one-more@t").is_some());
    }
}
