//! Where a list of events reads, and in which time windows, so a page of
//! the newest events costs the rows of the last hour, not the project's
//! (docs/PERFORMANCE.md, "Query API").
//!
//! - Source: `events_by_time`, sorted by (org, project, timestamp_ms,
//!   event_id), or, when the list asks for one user (`user_id=u`),
//!   `events_by_user`, sorted by (org, project, user_id, timestamp_ms,
//!   event_id): both copies of `events` made by materialized views
//!   (`sql/0007_query_tables.sql`); plus finalized partial events.
//! - Windows: newest first, the first window is the hour before the upper
//!   bound (the cursor or `timestamp[lte|lt]`), or before the project's
//!   latest event (`event_time_span`, kept by a materialized view) when that
//!   is earlier, and everything after; each next one 8× wider, down to the
//!   lower bound (`timestamp[gte|gt]`, or the epoch) where the last window
//!   ends. Oldest first, the same upward from the lower bound or the
//!   project's first event (with neither known, one window: everything).
//!
//! Invariant: a window holds every row between its bounds, so when it
//! yields more rows than the page needs, the page is the window's first
//! rows; only the last window may yield fewer. At most [`MAX_WINDOWS`].

use super::filter::{Filters, TextOp, TimeRange};
use super::list::Listing;
use super::sql::Narrow;

/// The first window, milliseconds.
pub const FIRST_MS: u64 = 3_600_000;

/// How much wider each next window is.
pub const GROWTH: u64 = 8;

/// Most windows one page reads (then the last covers every time).
pub const MAX_WINDOWS: u32 = 12;

/// The table a list reads, and what narrows it.
#[derive(Debug, Clone)]
pub struct Source {
    /// `events_by_time` or `events_by_user`.
    pub table: &'static str,
    /// `user_id = ?` for `events_by_user`.
    pub narrow: Vec<Narrow>,
}

/// `events_by_user` for one user's events (`user_id=u` or
/// `user_id[eq]=u`, once, `u` not empty: the copy holds only events with a
/// user), else `events_by_time`.
pub fn source(f: &Filters) -> Source {
    let users = f.text("user_id");
    match users.as_slice() {
        [one] if one.op == TextOp::Eq && !one.value.is_empty() => Source {
            table: "events_by_user",
            narrow: vec![Narrow::Eq("user_id", one.value.clone())],
        },
        _ => Source {
            table: "events_by_time",
            narrow: Vec::new(),
        },
    }
}

/// The time bounds of `range` as branch conditions on `timestamp_ms`
/// (the aggregates' reads: they take every row between them).
pub fn bounds(range: &TimeRange) -> Vec<Narrow> {
    let (lo, hi) = limits(range);
    let mut narrow = Vec::new();
    if let Some(lo) = lo {
        narrow.push(Narrow::AtLeast("timestamp_ms", lo));
    }
    if let Some(hi) = hi {
        narrow.push(Narrow::AtMost("timestamp_ms", hi));
    }
    narrow
}

/// The inclusive (lowest, highest) `timestamp_ms` a range allows.
fn limits(range: &TimeRange) -> (Option<u64>, Option<u64>) {
    let lo = match (range.gte, range.gt.map(|t| t.saturating_add(1))) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let hi = match (range.lte, range.lt.map(|t| t.saturating_sub(1))) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (lo, hi)
}

/// Where the rows a list reads lie: their first and last `timestamp_ms`,
/// and how many there are (unmerged copies included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The earliest row's time.
    pub first_ms: u64,
    /// The latest row's time.
    pub last_ms: u64,
    /// Rows between them.
    pub rows: u64,
}

impl Span {
    /// A first window that holds about twice a page of evenly spread rows
    /// (so one read is the rule), at least a second, at most [`FIRST_MS`]
    /// unless the rows are sparser than that.
    fn first_width(self, limit: u32) -> u64 {
        let length = u128::from(self.last_ms.saturating_sub(self.first_ms));
        let want = 2 * (u128::from(limit) + 1);
        let width = length * want / u128::from(self.rows.max(1));
        u64::try_from(width).unwrap_or(u64::MAX).max(1000)
    }
}

/// The windows of one page, in reading order.
#[derive(Debug)]
pub struct Windows {
    newest_first: bool,
    /// Inclusive bounds from the filters and the cursor.
    lo: Option<u64>,
    hi: Option<u64>,
    /// Where the first window starts from (newest first: its upper end).
    anchor: u64,
    /// The project's first and last event, when known.
    span: Option<(u64, u64)>,
    width: u64,
    read: u32,
    done: bool,
}

impl Windows {
    /// The windows of `listing`'s page under `range`, at `now_ms`, over
    /// rows that `span` describes (`None`: unknown or none).
    pub fn new(listing: &Listing, range: &TimeRange, now_ms: u64, span: Option<Span>) -> Windows {
        let width = span.map_or(FIRST_MS, |s| s.first_width(listing.limit));
        let span = span.map(|s| (s.first_ms, s.last_ms));
        let (mut lo, mut hi) = limits(range);
        if let Some(c) = &listing.cursor {
            if listing.newest_first {
                hi = Some(hi.map_or(c.ms, |h| h.min(c.ms)));
            } else {
                lo = Some(lo.map_or(c.ms, |l| l.max(c.ms)));
            }
        }
        // Where the first window starts: the bound, moved to where the
        // project's events are (any row beyond the anchor is in every
        // window; only the last window has no lower, or upper, end).
        let anchor = match (listing.newest_first, span) {
            (true, Some((_, last))) => hi.map_or(last, |h| h.min(last)),
            (true, None) => hi.unwrap_or(now_ms),
            (false, Some((first, _))) => lo.map_or(first, |l| l.max(first)),
            (false, None) => lo.unwrap_or(0),
        };
        let has_start = lo.is_some() || span.is_some();
        Windows {
            newest_first: listing.newest_first,
            lo,
            hi,
            anchor,
            span,
            width,
            read: 0,
            done: false,
        }
        .oldest_without_start(has_start)
    }

    /// Oldest first from nowhere (no bound, no known first event): one
    /// window, everything.
    fn oldest_without_start(mut self, has_start: bool) -> Windows {
        if !self.newest_first && !has_start {
            self.read = MAX_WINDOWS - 1;
        }
        self
    }

    /// The next window's conditions, and whether it is the last (it covers
    /// every time the page may hold); `None` after the last.
    pub fn next_window(&mut self) -> Option<(Vec<Narrow>, bool)> {
        if self.done {
            return None;
        }
        self.read += 1;
        let last_try = self.read >= MAX_WINDOWS;
        let (lo, hi, last) = if self.newest_first {
            let from = self.anchor.saturating_sub(self.width);
            let reaches = from == 0
                || self.lo.is_some_and(|lo| from <= lo)
                || self.span.is_some_and(|(first, _)| from <= first)
                || last_try;
            let lo = if reaches { self.lo } else { Some(from) };
            (lo, self.hi, reaches)
        } else {
            let to = self.anchor.saturating_add(self.width);
            let reaches = self.hi.is_some_and(|hi| to >= hi)
                || self.span.is_some_and(|(_, last)| to >= last)
                || to == u64::MAX
                || last_try;
            let hi = if reaches { self.hi } else { Some(to) };
            (self.lo, hi, reaches)
        };
        self.width = self.width.saturating_mul(GROWTH);
        self.done = last;
        let mut narrow = Vec::new();
        if let Some(lo) = lo {
            narrow.push(Narrow::AtLeast("timestamp_ms", lo));
        }
        if let Some(hi) = hi {
            narrow.push(Narrow::AtMost("timestamp_ms", hi));
        }
        Some((narrow, last))
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::Shape;
    use super::super::params::Cursor;
    use super::*;

    fn listing(newest_first: bool, cursor: Option<u64>) -> Listing {
        Listing {
            limit: 100,
            cursor: cursor.map(|ms| Cursor { ms, id: "e".into() }),
            newest_first,
        }
    }

    fn spans(mut w: Windows) -> Vec<(Option<u64>, Option<u64>, bool)> {
        let mut out = Vec::new();
        while let Some((narrow, last)) = w.next_window() {
            let (mut lo, mut hi) = (None, None);
            for n in narrow {
                match n {
                    Narrow::AtLeast(_, v) => lo = Some(v),
                    Narrow::AtMost(_, v) => hi = Some(v),
                    _ => {}
                }
            }
            out.push((lo, hi, last));
        }
        out
    }

    #[test]
    fn newest_first_widens_back_from_now_to_the_epoch() {
        let now = 100 * FIRST_MS;
        let w = spans(Windows::new(
            &listing(true, None),
            &TimeRange::default(),
            now,
            None,
        ));
        assert_eq!(w[0], (Some(99 * FIRST_MS), None, false));
        assert_eq!(w[1], (Some(92 * FIRST_MS), None, false));
        assert_eq!(w[2], (Some(36 * FIRST_MS), None, false));
        assert_eq!(w[3], (None, None, true));
        assert_eq!(w.len(), 4);
    }

    #[test]
    fn the_cursor_and_the_range_bound_every_window() {
        let range = TimeRange {
            gt: Some(10 * FIRST_MS),
            lt: Some(50 * FIRST_MS),
            ..TimeRange::default()
        };
        let w = spans(Windows::new(
            &listing(true, Some(40 * FIRST_MS)),
            &range,
            0,
            None,
        ));
        assert_eq!(w[0], (Some(39 * FIRST_MS), Some(40 * FIRST_MS), false));
        assert_eq!(w[1], (Some(32 * FIRST_MS), Some(40 * FIRST_MS), false));
        assert_eq!(w[2], (Some(10 * FIRST_MS + 1), Some(40 * FIRST_MS), true));
        assert_eq!(w.len(), 3);
        let up = spans(Windows::new(
            &listing(false, Some(5 * FIRST_MS)),
            &range,
            0,
            None,
        ));
        assert_eq!(
            up[0],
            (Some(10 * FIRST_MS + 1), Some(11 * FIRST_MS + 1), false)
        );
        assert_eq!(
            up.last(),
            Some(&(Some(10 * FIRST_MS + 1), Some(50 * FIRST_MS - 1), true))
        );
    }

    #[test]
    fn oldest_first_without_a_start_reads_once() {
        let w = spans(Windows::new(
            &listing(false, None),
            &TimeRange::default(),
            0,
            None,
        ));
        assert_eq!(w, vec![(None, None, true)]);
    }

    #[test]
    fn windows_start_where_the_project_s_events_are() {
        let now = 1000 * FIRST_MS;
        // Sparse: a hundred rows over 90 hours; the first window is a page's worth.
        let span = Some(Span {
            first_ms: 10 * FIRST_MS,
            last_ms: 100 * FIRST_MS,
            rows: 101,
        });
        let w = spans(Windows::new(
            &listing(true, None),
            &TimeRange::default(),
            now,
            span,
        ));
        // 2 × 101 rows' worth of 90 h over 101 rows: 180 h, past the first row.
        assert_eq!(w, vec![(None, None, true)]);
        let dense = Some(Span {
            first_ms: 10 * FIRST_MS,
            last_ms: 100 * FIRST_MS,
            rows: 90 * 202,
        });
        let w = spans(Windows::new(
            &listing(true, None),
            &TimeRange::default(),
            now,
            dense,
        ));
        assert_eq!(w[0], (Some(99 * FIRST_MS), None, false));
        let up = spans(Windows::new(
            &listing(false, None),
            &TimeRange::default(),
            now,
            dense,
        ));
        assert_eq!(up[0], (None, Some(11 * FIRST_MS), false));
        assert!(up.len() > 1);
    }

    #[test]
    fn one_user_reads_the_user_table() {
        let f = Filters::parse(Some("user_id=u1"), &[("user_id", Shape::Text)]).expect("parses");
        assert_eq!(source(&f).table, "events_by_user");
        let f = Filters::parse(Some("user_id="), &[("user_id", Shape::Text)]).expect("parses");
        assert_eq!(source(&f).table, "events_by_time");
        let f = Filters::parse(Some("user_id[startsWith]=u"), &[("user_id", Shape::Text)])
            .expect("parses");
        assert_eq!(source(&f).table, "events_by_time");
    }
}
