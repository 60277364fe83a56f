//! Retrying calls to the API: waits that double after each failure, up to a ceiling, and
//! start again after a success. One helper for every loop that talks to the API.

use std::time::Duration;

pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, next: first }
    }

    /// After a success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// After a failure: waits, and makes the next wait twice as long (up to the ceiling).
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.step()).await;
    }

    /// The wait due now; the next one doubles.
    fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<u128> = (0..4).map(|_| backoff.step().as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.step(), Duration::from_millis(100));
    }
}
