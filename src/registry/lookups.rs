//! How many registry lookups of unknown key ids one source may cause: each
//! costs a ClickHouse query, so a flood of random ids would turn the edge
//! into an amplifier against the registry (issue 16, "bounded staleness").
//!
//! Fixed one-minute windows per source address, opened by its first lookup.
//! Invariant: memory is bounded: at most [`MAX_SOURCES`] windows are kept
//! (moka evicts the least used), each expiring a minute after it opened.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Windows kept at once.
pub const MAX_SOURCES: u64 = 100_000;
/// A window's length.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Window {
    opened: Instant,
    used: AtomicU32,
}

/// Lookups per source per minute.
#[derive(Clone)]
pub struct LookupBudget {
    per_minute: u32,
    windows: moka::sync::Cache<IpAddr, Arc<Window>>,
}

impl LookupBudget {
    /// `per_minute` lookups per source per minute (0: none at all).
    pub fn new(per_minute: u32) -> LookupBudget {
        LookupBudget {
            per_minute,
            windows: moka::sync::Cache::builder()
                .max_capacity(MAX_SOURCES)
                .time_to_live(WINDOW)
                .build(),
        }
    }

    /// Takes one lookup for `source`; `Err(seconds)` until its window
    /// reopens when it has none left.
    pub fn take(&self, source: IpAddr) -> Result<(), u32> {
        let window = self.windows.get_with(source, || {
            Arc::new(Window {
                opened: Instant::now(),
                used: AtomicU32::new(0),
            })
        });
        if window.used.fetch_add(1, Ordering::Relaxed) < self.per_minute {
            return Ok(());
        }
        let left = WINDOW.saturating_sub(window.opened.elapsed());
        Err(u32::try_from(left.as_secs()).unwrap_or(60).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_has_its_own_budget() {
        let budget = LookupBudget::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(budget.take(a), Ok(()));
        assert_eq!(budget.take(a), Ok(()));
        let wait = budget.take(a).expect_err("the third lookup waits");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(budget.take(b), Ok(()), "another source is not charged");
    }
}
