//! The wait between retries of a failed write: doubling from an initial
//! wait up to a cap, back to the start after a success.
//!
//! Invariant: a wait is never longer than the cap, so a consumer notices a
//! recovered ClickHouse within `retry_max_ms`.

use std::time::Duration;

/// Exponential backoff between retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubles up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// The wait before the next retry (then doubles).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.current;
        self.current = (self.current * 2).min(self.max);
        wait
    }

    /// Back to the first wait (after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }

    /// Whether no failure is being waited out.
    pub fn is_initial(&self) -> bool {
        self.current == self.initial
    }

    /// The wait the next retry would use.
    pub fn current(&self) -> Duration {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert!(!b.is_initial());
        b.reset();
        assert!(b.is_initial());
        assert_eq!(b.current(), Duration::from_millis(100));
    }
}
