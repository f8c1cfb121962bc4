//! Hot projects over more partitions (issue 14): a record's key is
//! `org/project`, so Kafka puts all of a project's records in one partition
//! and one consumer carries them. A project that sent more than
//! `edge.hot_project_rows_per_second` rows through this edge in the
//! previous second gets keys `org/project#n`, n taking turns over
//! `edge.hot_project_spread` values, which the partitioner spreads over as
//! many partitions; the consumer reads the project back from either form
//! ([`crate::sink::layout::project_key`]). Up to that many consumers then
//! insert the project's rows, so its partition in ClickHouse gets up to
//! that many parts per flush instead of one.
//!
//! Invariants: a project under the threshold keeps its one key (its
//! records stay in order); a spread project's records are in order per
//! partition only, which nothing downstream needs (rows collapse by id,
//! users by receive time, partial events by `seq`). The check is one map
//! lookup per request; only projects with traffic get an entry.

use std::borrow::Cow;

use dashmap::DashMap;

/// What separates a key's project from its spread suffix (never in a slug).
pub const SPREAD_MARK: char = '#';

#[derive(Debug, Clone, Copy)]
struct Rate {
    second: u64,
    rows: u64,
    previous: u64,
    turn: u32,
}

/// Per-project row rates on this edge, and the keys they get.
#[derive(Debug)]
pub struct HotRouter {
    threshold: u64,
    spread: u32,
    rates: DashMap<String, Rate>,
    /// Routes since the last sweep of quiet projects.
    routed: std::sync::atomic::AtomicU32,
}

/// Every this many routes, the projects quiet for two seconds are forgotten.
const SWEEP_EVERY: u32 = 1 << 16;

impl HotRouter {
    /// Spreads a project over `spread` keys once it sends more than
    /// `threshold` rows per second; `threshold` 0 or `spread` ≤ 1: never.
    pub fn new(threshold: u64, spread: u32) -> HotRouter {
        HotRouter {
            threshold,
            spread,
            rates: DashMap::new(),
            routed: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The record key for `rows` rows of `key` (`org/project`) at `now`
    /// (Unix seconds).
    pub fn route<'k>(&self, key: &'k str, rows: u64, now: u64) -> Cow<'k, str> {
        if self.threshold == 0 || self.spread <= 1 {
            return Cow::Borrowed(key);
        }
        let routed = self
            .routed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if routed % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.rates.retain(|_, rate| rate.second + 2 >= now);
        }
        let mut rate = match self.rates.get_mut(key) {
            Some(rate) => rate,
            None => self.rates.entry(key.to_string()).or_insert(Rate {
                second: now,
                rows: 0,
                previous: 0,
                turn: 0,
            }),
        };
        // A request that read the clock before one counted already (requests
        // race to here) counts in the current second, never resets it.
        if now > rate.second {
            rate.previous = if rate.second + 1 == now { rate.rows } else { 0 };
            rate.second = now;
            rate.rows = 0;
        }
        rate.rows += rows;
        if rate.previous <= self.threshold {
            return Cow::Borrowed(key);
        }
        rate.turn = rate.turn.wrapping_add(1);
        Cow::Owned(format!("{key}{SPREAD_MARK}{}", rate.turn % self.spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_over_the_threshold_takes_turns_over_its_spread() {
        let router = HotRouter::new(100, 3);
        let t = 1_800_000_000;
        // Under the threshold, or in its first second: one key.
        assert_eq!(router.route("o/p", 150, t), "o/p");
        assert_eq!(router.route("o/p", 10, t), "o/p");
        // The previous second had 160 rows: spread.
        let keys: Vec<String> = (0..6)
            .map(|_| router.route("o/p", 1, t + 1).into_owned())
            .collect();
        assert_eq!(keys, ["o/p#1", "o/p#2", "o/p#0", "o/p#1", "o/p#2", "o/p#0"]);
        // Another project is not affected.
        assert_eq!(router.route("o/q", 1, t + 1), "o/q");
        // A quiet second, or a gap, brings the one key back.
        assert_eq!(router.route("o/p", 1, t + 2), "o/p");
        assert_eq!(router.route("o/p", 500, t + 2), "o/p");
        assert_eq!(
            router.route("o/p", 1, t + 9),
            "o/p",
            "a gap is a quiet second"
        );
    }

    #[test]
    fn off_when_not_configured() {
        for router in [HotRouter::new(0, 4), HotRouter::new(10, 1)] {
            router.route("o/p", 1_000, 1);
            assert_eq!(router.route("o/p", 1_000, 2), "o/p");
        }
    }
}
