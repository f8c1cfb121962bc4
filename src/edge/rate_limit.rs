//! Per-project rate limits (docs/CONTRACT.md §C16):
//! `rate_limit_rpm` requests per minute, counted per project, with
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` on
//! every request of a limited project, and 429 + `Retry-After` past it.
//!
//! Fixed one-minute windows aligned to the clock (so `X-RateLimit-Reset` is
//! "Unix timestamp when the window resets"). A request is admitted while
//! this edge's count plus what the other edges admitted in the same minute
//! is under the limit; the other edges' counts arrive within two exchange
//! intervals and a round trip ([`crate::edge::rate_sync`]), so N edges
//! together admit at most the limit plus what the others admitted in that
//! time, and never more than N × the limit (each edge's own count is
//! bounded by it alone). Only
//! projects that have a limit get a counter; the check takes no lock but a
//! map shard's, and does no I/O.

use dashmap::DashMap;

/// What one request learned about its project's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// The configured requests per minute.
    pub limit: u32,
    /// Requests left in this window after this one.
    pub remaining: u32,
    /// When the window resets, Unix seconds.
    pub reset: u64,
    /// Whether this request is over the limit.
    pub exceeded: bool,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    minute: u64,
    count: u32,
    /// `count` as last published to the other edges.
    published: u32,
    /// What the other edges admitted in `others_minute`, as of the last
    /// exchange. Kept in the same entry as this edge's count: one map
    /// lookup per request (a second map cost 20 ns more).
    others: u32,
    others_minute: u64,
}

impl Window {
    fn new(minute: u64) -> Window {
        Window {
            minute,
            count: 0,
            published: 0,
            others: 0,
            others_minute: minute,
        }
    }
}

/// Request counters per project: this edge's, and the other edges' sum.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: DashMap<String, Window>,
}

impl RateLimiter {
    /// Counts one request of `project_key` (`org/slug`) at `now` (Unix seconds).
    pub fn check(&self, project_key: &str, limit: u32, now: u64) -> RateInfo {
        let minute = now / 60;
        // Look up before inserting: the key is allocated only for a project's first request.
        let mut window = match self.windows.get_mut(project_key) {
            Some(window) => window,
            None => self
                .windows
                .entry(project_key.to_string())
                .or_insert(Window::new(minute)),
        };
        // A request that read the clock before one counted already counts
        // in the current window, never resets it.
        if minute > window.minute {
            window.minute = minute;
            window.count = 0;
            window.published = 0;
        }
        let minute = window.minute;
        let others = if window.others_minute == minute {
            window.others
        } else {
            0
        };
        let exceeded = window.count.saturating_add(others) >= limit;
        if !exceeded {
            window.count += 1;
        }
        RateInfo {
            limit,
            remaining: limit.saturating_sub(window.count.saturating_add(others)),
            reset: (minute + 1) * 60,
            exceeded,
        }
    }

    /// This edge's counts of `minute` that changed since they were last
    /// published ([`RateLimiter::published`]).
    pub fn unpublished(&self, minute: u64) -> Vec<(String, u32)> {
        self.windows
            .iter()
            .filter(|w| w.minute == minute && w.count != w.published)
            .map(|w| (w.key().clone(), w.count))
            .collect()
    }

    /// Records that the other edges now know `counts` of `minute`.
    pub fn published(&self, minute: u64, counts: &[(String, u32)]) {
        for (key, count) in counts {
            if let Some(mut w) = self.windows.get_mut(key)
                && w.minute == minute
            {
                w.published = w.published.max(*count);
            }
        }
    }

    /// Forgets the counts of minutes before `minute` (a project whose limit
    /// was removed, or that went quiet).
    pub fn forget_before(&self, minute: u64) {
        self.windows
            .retain(|_, w| w.minute >= minute || w.others_minute >= minute);
    }

    /// What the other edges admitted in `minute`, per project: replaces the
    /// previous exchange's figures (a project absent from `counts` had none).
    pub fn set_others(&self, minute: u64, counts: Vec<(String, u32)>) {
        let fresh: std::collections::HashMap<String, u32> = counts.into_iter().collect();
        // Absent: none this minute (its minute left as it was, so a quiet
        // project's entry can still be forgotten).
        for mut w in self.windows.iter_mut() {
            if !fresh.contains_key(w.key()) {
                w.others = 0;
            }
        }
        for (key, count) in fresh {
            let mut w = self.windows.entry(key).or_insert(Window::new(minute));
            w.others = count;
            w.others_minute = minute;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_minute_and_per_project() {
        let limiter = RateLimiter::default();
        let t = 30_000_000 * 60; // the start of a minute
        let seen: Vec<(u32, bool)> = (0..4)
            .map(|_| limiter.check("o/a", 3, t + 5))
            .map(|r| (r.remaining, r.exceeded))
            .collect();
        assert_eq!(seen, vec![(2, false), (1, false), (0, false), (0, true)]);
        assert_eq!(limiter.check("o/a", 3, t + 5).reset, t + 60);
        assert!(
            !limiter.check("o/b", 3, t + 5).exceeded,
            "another project has its own counter"
        );
        assert_eq!(
            limiter.check("o/a", 3, t + 60).remaining,
            2,
            "a new minute starts a new window"
        );
        assert_eq!(
            limiter.check("o/a", 3, t + 59).remaining,
            1,
            "a late request counts in the current window"
        );
    }

    #[test]
    fn what_the_other_edges_admitted_counts_against_the_limit() {
        let limiter = RateLimiter::default();
        let t = 30_000_000 * 60;
        let minute = t / 60;
        limiter.check("o/a", 5, t);
        limiter.set_others(minute, vec![("o/a".into(), 3)]);
        let r = limiter.check("o/a", 5, t + 1);
        assert_eq!(
            (r.remaining, r.exceeded),
            (0, false),
            "1 + 3 others + this one"
        );
        assert!(limiter.check("o/a", 5, t + 2).exceeded);
        // Last minute's figures do not count in this one.
        assert!(!limiter.check("o/a", 5, t + 60).exceeded);
        limiter.set_others(minute + 1, vec![]);
        assert_eq!(limiter.check("o/a", 5, t + 61).remaining, 3);
    }

    #[test]
    fn only_changed_counts_are_published_again() {
        let limiter = RateLimiter::default();
        let t = 30_000_000 * 60;
        let minute = t / 60;
        limiter.check("o/a", 5, t);
        limiter.check("o/b", 5, t);
        let mut first = limiter.unpublished(minute);
        first.sort();
        assert_eq!(first, vec![("o/a".into(), 1), ("o/b".into(), 1)]);
        limiter.published(minute, &first);
        assert!(limiter.unpublished(minute).is_empty());
        limiter.check("o/a", 5, t + 1);
        assert_eq!(limiter.unpublished(minute), vec![("o/a".into(), 2)]);
        assert!(limiter.unpublished(minute + 1).is_empty());
        limiter.forget_before(minute + 1);
        assert!(
            limiter.unpublished(minute).is_empty(),
            "last minute's counts are gone"
        );
    }
}
