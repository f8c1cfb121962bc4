//! The consumer's stall watchdog: decides, from what a worker can observe
//! (its assignment, the group's lag and committed offsets, when it last
//! handed out or committed a record), whether its group member is healthy,
//! stalled, or must be recreated.
//!
//! Progress is anything showing the member is not stuck in the group: a
//! record handed out, a commit, or nothing to do — assigned with no lag on
//! its partitions, or unassigned while another member's commits advance (a
//! surplus member: more members than partitions). The worker also counts as progressing while it
//! deliberately does not read (a full batch waiting for its flush, a flush
//! retrying against ClickHouse): a ClickHouse outage is not a group stall,
//! and recreating the member would not help it.
//!
//! Invariants: a member with no progress for longer than `stall` is
//! recreated (`Verdict::Recreate`); a member that replaced a never-assigned
//! predecessor, is itself never assigned for the whole bound, and sees
//! records nobody reads (lag on the topic, no member committing) asks for a
//! fresh group instead (`Verdict::Regroup`, src/bus/group.rs): the group is
//! one the broker does not form again. So does an assigned member that
//! sees records wait on partitions it does not hold while none of them is
//! committed for [`ORPHANED_AFTER_STALLS`] bounds (their holder died and the
//! broker kept it in the group). An idle topic never asks for a move
//! (a surplus member of a quiet topic is recreated, not moved: a move
//! would leave it surplus again). `/readyz` is false while it has no
//! assignment or no progress for longer than half of `stall` (so the stall
//! shows before the watchdog acts), unless no record waits on the topic
//! (its lag is 0): then nothing is being missed, and an idle topic whose
//! group the broker left without assignments (recreated meanwhile, moved as
//! soon as records wait) does not page anyone. The watchdog is a pure function of
//! those observations and the instants it is given (tests use a fake clock).
//! The worker that recreates a member drops its uncommitted batch: those
//! offsets were never committed, so the records are delivered again and
//! collapse by id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the worker saw at one tick.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation {
    /// The member holds at least one partition.
    pub assigned: bool,
    /// The latest lag probe, if one answered since the member was created.
    pub lag: Option<LagView>,
    /// The worker is not reading on purpose (a full batch, a flush).
    pub holding: bool,
}

/// One lag probe, reduced to what the watchdog needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LagView {
    /// Lag summed over the partitions this member holds.
    pub own: i64,
    /// Lag summed over every partition of the topic.
    pub topic: i64,
    /// The group's committed offsets summed over every partition (rises
    /// when any member commits).
    pub committed: i64,
}

/// What the worker should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ready: assigned and progressing, or no record waits on the topic.
    Ready,
    /// Not ready (no assignment, or no progress for over half the bound),
    /// not yet recreated.
    NotReady,
    /// No progress for longer than the bound: recreate the member.
    Recreate,
    /// No progress for longer than the bound, and neither this member nor
    /// the one it replaced was ever assigned: leave the group for a fresh one.
    Regroup,
}

/// Stall detection for one group member.
#[derive(Debug, Clone)]
pub struct Watchdog {
    stall: Duration,
    last_progress: Instant,
    last_committed: Option<i64>,
    /// This member held a partition at some tick.
    ever_assigned: bool,
    /// Members recreated in a row, before this one, that never held one.
    unassigned_before: u32,
    /// Partitions this member does not hold on which records wait: their
    /// committed offset and since when it has not moved.
    waiting_elsewhere: HashMap<i32, (i64, Instant)>,
    /// When [`Watchdog::elsewhere`] last looked.
    looked: Option<Instant>,
}

/// A gap between two looks longer than this (a long flush: the worker does
/// not tick meanwhile) starts the timers of [`Watchdog::elsewhere`] again.
const LOOK_GAP: Duration = Duration::from_secs(10);

/// How long records may wait on a partition another member holds, its
/// committed offset standing still, before a member asks for a fresh
/// group: two stall bounds, so a live holder that stalls is recreated
/// (one bound) and has another to read and commit first.
pub const ORPHANED_AFTER_STALLS: u32 = 2;

impl Watchdog {
    /// A watchdog for a member created at `now`, recreated after `stall`
    /// without progress.
    pub fn new(stall: Duration, now: Instant) -> Watchdog {
        Watchdog {
            stall,
            last_progress: now,
            last_committed: None,
            ever_assigned: false,
            unassigned_before: 0,
            waiting_elsewhere: HashMap::new(),
            looked: None,
        }
    }

    /// The watchdog of the member that replaces this one at `now` (after a
    /// `Recreate`): it remembers whether this one was ever assigned.
    pub fn renewed(&self, now: Instant) -> Watchdog {
        Watchdog {
            unassigned_before: if self.ever_assigned {
                0
            } else {
                self.unassigned_before + 1
            },
            ..Watchdog::new(self.stall, now)
        }
    }

    /// A record was handed out or offsets were committed at `now`.
    pub fn progress(&mut self, now: Instant) {
        self.last_progress = self.last_progress.max(now);
    }

    /// How long since the last progress.
    pub fn since_progress(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_progress)
    }

    /// Takes one observation and says what to do.
    pub fn tick(&mut self, now: Instant, seen: Observation) -> Verdict {
        self.ever_assigned |= seen.assigned;
        let others_committed = match (seen.lag, self.last_committed) {
            (Some(lag), Some(before)) => lag.committed > before,
            _ => false,
        };
        if let Some(lag) = seen.lag {
            self.last_committed = Some(lag.committed);
        }
        let idle_by_design = match seen.lag {
            Some(lag) if seen.assigned => lag.own == 0,
            // Unassigned: fine only while another member's commits advance
            // (a surplus member). An idle topic does not count: tansu can leave
            // a member in a formed group with no partition, and it would sit
            // there (not ready) until traffic came back.
            Some(_) => others_committed,
            None => false,
        };
        if seen.holding || idle_by_design {
            self.progress(now);
        }
        let since = self.since_progress(now);
        let unread = seen.lag.is_some_and(|lag| lag.topic > 0);
        let wedged = since > self.stall && !self.ever_assigned && self.unassigned_before > 0;
        if self.orphaned(now, seen) || (wedged && unread) {
            Verdict::Regroup
        } else if since > self.stall {
            Verdict::Recreate
        } else if seen.lag.is_some_and(|lag| lag.topic == 0) {
            Verdict::Ready
        } else if !seen.assigned || since > self.stall / 2 {
            Verdict::NotReady
        } else {
            Verdict::Ready
        }
    }

    /// Takes the latest lag probe's partitions this member does not hold
    /// and on which records wait, as `(partition, committed offset)`.
    /// Timers start again after a gap longer than [`LOOK_GAP`] between two
    /// calls (this member was busy, so it did not see the others commit).
    /// The caller passes nothing while the member is unassigned or its lag
    /// probe is not recent.
    pub fn elsewhere(&mut self, now: Instant, waiting: &[(i32, i64)]) {
        if self
            .looked
            .is_some_and(|at| now.saturating_duration_since(at) > LOOK_GAP)
        {
            self.waiting_elsewhere.clear();
        }
        self.looked = Some(now);
        self.waiting_elsewhere
            .retain(|p, _| waiting.iter().any(|(q, _)| q == p));
        for &(partition, committed) in waiting {
            let entry = self
                .waiting_elsewhere
                .entry(partition)
                .or_insert((committed, now));
            if entry.0 != committed {
                *entry = (committed, now);
            }
        }
    }

    /// Whether records have waited, for longer than [`ORPHANED_AFTER_STALLS`]
    /// stall bounds, on a partition this (assigned) member does not hold
    /// while its committed offset stood still: its holder is gone without
    /// the broker noticing (a SIGKILLed static member, kept by tansu), and
    /// only a fresh group hands the partition to a live member. Not while
    /// this member holds a batch: ClickHouse is then slow or down, and the
    /// other members are likely holding theirs too. (A caught-up member
    /// cannot tell a ClickHouse outage longer than the bound from a dead
    /// member; the move it then asks for costs a re-read, nothing more.)
    fn orphaned(&mut self, now: Instant, seen: Observation) -> bool {
        if seen.holding {
            self.waiting_elsewhere.clear();
            return false;
        }
        let bound = self.stall.saturating_mul(ORPHANED_AFTER_STALLS);
        seen.assigned
            && self
                .waiting_elsewhere
                .values()
                .any(|&(_, since)| now.saturating_duration_since(since) > bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(20); // any bound; the default is 35 s

    /// A fake clock: instants `s` seconds after a fixed start.
    struct Clock(Instant);
    impl Clock {
        fn at(&self, s: u64) -> Instant {
            self.0 + Duration::from_secs(s)
        }
    }

    fn lag(own: i64, topic: i64, committed: i64) -> Option<LagView> {
        Some(LagView {
            own,
            topic,
            committed,
        })
    }

    fn seen(assigned: bool, lag: Option<LagView>) -> Observation {
        Observation {
            assigned,
            lag,
            holding: false,
        }
    }

    #[test]
    fn an_assigned_member_that_reads_stays_ready() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        for s in 1..100 {
            w.progress(c.at(s));
            assert_eq!(
                w.tick(c.at(s), seen(true, lag(50, 50, s as i64))),
                Verdict::Ready
            );
        }
    }

    #[test]
    fn records_nobody_reads_on_another_members_partitions_move_the_group() {
        // The many fault: a SIGKILLed static member keeps partition 7; this
        // member is caught up, records wait there, and the live members'
        // partitions (3) move on.
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let stranded = seen(true, lag(0, 42, 1_000));
        // Seen first at 1 s; two bounds (40 s) later the group moves.
        for s in 1..=41 {
            w.elsewhere(c.at(s), &[(7, 500), (3, 100 + s as i64)]);
            assert_eq!(w.tick(c.at(s), stranded), Verdict::Ready, "at {s}");
        }
        w.elsewhere(c.at(42), &[(7, 500), (3, 142)]);
        assert_eq!(w.tick(c.at(42), stranded), Verdict::Regroup);
    }

    #[test]
    fn records_waiting_on_a_member_that_commits_do_not_move_the_group() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let behind = seen(true, lag(0, 500, 1_000));
        for s in 1..300 {
            // Another member is behind on 7 but commits every 30 s; 9 was
            // behind once and caught up.
            let mut waiting = vec![(7, 1_000 + s as i64 / 30)];
            if s < 30 {
                waiting.push((9, 5));
            }
            w.elsewhere(c.at(s), &waiting);
            assert_eq!(w.tick(c.at(s), behind), Verdict::Ready, "at {s}");
        }
    }

    #[test]
    fn a_long_flush_starts_the_timers_again() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let stranded = seen(true, lag(0, 42, 1_000));
        for s in 1..=30 {
            w.elsewhere(c.at(s), &[(7, 500)]);
            assert_eq!(w.tick(c.at(s), stranded), Verdict::Ready);
        }
        // A 15 s flush without ticks: what others committed meanwhile was
        // not seen, so the 40 s count again from here.
        for s in 45..=85 {
            w.elsewhere(c.at(s), &[(7, 500)]);
            w.progress(c.at(s));
            assert_eq!(w.tick(c.at(s), stranded), Verdict::Ready, "at {s}");
        }
        w.elsewhere(c.at(86), &[(7, 500)]);
        assert_eq!(w.tick(c.at(86), stranded), Verdict::Regroup);
    }

    #[test]
    fn a_member_holding_its_batch_never_moves_the_group() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let outage = Observation {
            assigned: true,
            lag: lag(10, 52, 1_000),
            holding: true,
        };
        for s in 1..300 {
            assert_eq!(w.tick(c.at(s), outage), Verdict::Ready, "at {s}");
        }
    }

    #[test]
    fn a_caught_up_member_is_not_stalled_however_long_it_waits() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        for s in 1..300 {
            assert_eq!(w.tick(c.at(s), seen(true, lag(0, 0, 7))), Verdict::Ready);
        }
        assert_eq!(w.since_progress(c.at(299)), Duration::ZERO);
    }

    #[test]
    fn lag_without_progress_is_not_ready_at_half_the_bound_and_recreated_past_it() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        w.progress(c.at(5));
        let stuck = seen(true, lag(100, 100, 0));
        assert_eq!(w.tick(c.at(15), stuck), Verdict::Ready);
        assert_eq!(w.tick(c.at(16), stuck), Verdict::NotReady);
        assert_eq!(w.tick(c.at(25), stuck), Verdict::NotReady);
        assert_eq!(w.tick(c.at(26), stuck), Verdict::Recreate);
        assert_eq!(w.since_progress(c.at(26)), Duration::from_secs(21));
    }

    #[test]
    fn no_assignment_is_not_ready_and_recreated_when_nobody_progresses() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        // The restarted consumer of the issue: no partitions, lag on all.
        assert_eq!(w.tick(c.at(1), seen(false, None)), Verdict::NotReady);
        assert_eq!(
            w.tick(c.at(5), seen(false, lag(0, 900, 10))),
            Verdict::NotReady
        );
        assert_eq!(
            w.tick(c.at(20), seen(false, lag(0, 900, 10))),
            Verdict::NotReady
        );
        assert_eq!(
            w.tick(c.at(21), seen(false, lag(0, 900, 10))),
            Verdict::Recreate
        );
    }

    #[test]
    fn a_surplus_member_is_not_recreated_while_others_commit() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        for s in 1..200 {
            // Another member holds every partition and commits.
            let v = w.tick(c.at(s), seen(false, lag(0, 40, 10 * s as i64)));
            assert_eq!(v, Verdict::NotReady, "at {s}");
        }
    }

    #[test]
    fn an_unassigned_member_of_an_idle_topic_is_recreated() {
        // tansu's empty assignment after the load ended: nothing to read,
        // nobody commits. Nothing is missed, so it is ready (no page for an
        // idle topic), and it is recreated in case the broker left it there.
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        assert_eq!(w.tick(c.at(20), seen(false, lag(0, 0, 50))), Verdict::Ready);
        assert_eq!(
            w.tick(c.at(20), seen(false, lag(0, 3, 50))),
            Verdict::NotReady,
            "records wait and nobody holds them"
        );
        assert_eq!(
            w.tick(c.at(21), seen(false, lag(0, 0, 50))),
            Verdict::Recreate
        );
    }

    #[test]
    fn holding_a_batch_or_flushing_is_not_a_stall() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let holding = Observation {
            assigned: true,
            lag: lag(100, 100, 0),
            holding: true,
        };
        for s in 1..120 {
            assert_eq!(w.tick(c.at(s), holding), Verdict::Ready);
        }
    }

    #[test]
    fn a_member_whose_lag_probe_never_answers_is_recreated() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        assert_eq!(w.tick(c.at(10), seen(true, None)), Verdict::Ready);
        assert_eq!(w.tick(c.at(11), seen(true, None)), Verdict::NotReady);
        assert_eq!(w.tick(c.at(21), seen(true, None)), Verdict::Recreate);
    }

    #[test]
    fn a_replacement_that_is_never_assigned_either_asks_for_a_fresh_group() {
        // tansu's forming group led by a member that left: nobody is ever
        // assigned, whichever member joins.
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let wedged = seen(false, lag(0, 900, 10));
        assert_eq!(w.tick(c.at(21), wedged), Verdict::Recreate);
        let mut w = w.renewed(c.at(21));
        assert_eq!(w.tick(c.at(41), wedged), Verdict::NotReady);
        assert_eq!(w.tick(c.at(42), wedged), Verdict::Regroup);
        // In the fresh group the count starts again.
        let mut w = Watchdog::new(STALL, c.at(42));
        assert_eq!(w.tick(c.at(63), wedged), Verdict::Recreate);
    }

    #[test]
    fn an_unassigned_member_of_an_idle_topic_is_recreated_never_moved() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        let idle = seen(false, lag(0, 0, 50));
        let mut at = 0;
        for _ in 0..5 {
            at += 21;
            assert_eq!(w.tick(c.at(at), idle), Verdict::Recreate);
            w = w.renewed(c.at(at));
        }
    }

    #[test]
    fn a_member_assigned_once_resets_the_count_of_unassigned_replacements() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(0));
        assert_eq!(w.tick(c.at(21), seen(false, None)), Verdict::Recreate);
        let mut w = w.renewed(c.at(21));
        // Assigned, then stuck with lag (a broker stall, not a wedged group).
        assert_eq!(w.tick(c.at(22), seen(true, lag(50, 50, 0))), Verdict::Ready);
        assert_eq!(
            w.tick(c.at(43), seen(false, lag(0, 50, 0))),
            Verdict::Recreate
        );
        let mut w = w.renewed(c.at(43));
        assert_eq!(
            w.tick(c.at(64), seen(false, lag(0, 50, 0))),
            Verdict::Recreate
        );
        let mut w = w.renewed(c.at(64));
        assert_eq!(
            w.tick(c.at(85), seen(false, lag(0, 50, 0))),
            Verdict::Regroup
        );
    }

    #[test]
    fn progress_is_never_moved_back() {
        let c = Clock(Instant::now());
        let mut w = Watchdog::new(STALL, c.at(10));
        w.progress(c.at(3));
        assert_eq!(w.since_progress(c.at(12)), Duration::from_secs(2));
    }
}
