//! Per-project rate limits (docs/CONTRACT.md §C16):
//! `rate_limit_rpm` requests per minute, counted per project, with
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` on
//! every request of a limited project, and 429 + `Retry-After` past it.
//!
//! Fixed one-minute windows aligned to the clock (so `X-RateLimit-Reset` is
//! "Unix timestamp when the window resets"), counted in this edge process:
//! with N edges behind a balancer a project gets at most N × its limit.
//! Only projects that have a limit get a counter.

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
}

/// Request counters per project.
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
                .or_insert(Window { minute, count: 0 }),
        };
        if window.minute != minute {
            *window = Window { minute, count: 0 };
        }
        let exceeded = window.count >= limit;
        if !exceeded {
            window.count += 1;
        }
        RateInfo {
            limit,
            remaining: limit.saturating_sub(window.count),
            reset: (minute + 1) * 60,
            exceeded,
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
    }
}
