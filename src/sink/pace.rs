//! When a batch flushes: the INSERT budget and the slow-down under pressure.
//!
//! Every INSERT writes one part per partition it touches, and a batch of `P`
//! projects needs `ceil(P / max_projects_per_insert)` INSERTs. To keep the
//! INSERT rate per table bounded by configuration rather than by project
//! count, a batch's age bound is
//!
//! ```text
//! age = max(max_age × slowdown, inserts_needed / max_inserts_per_second_per_table)
//! ```
//!
//! and a batch closed by age never flushes before the previous flush's
//! INSERTs are paid for (`previous start + previous inserts / budget`).
//! A batch that reaches its row or byte bound flushes at once: its INSERTs
//! are large, and holding it would cap throughput at
//! `max_bytes × budget / inserts` instead of bounding small INSERTs.
//!
//! `slowdown` starts at 1, doubles on each "too many parts"/overload answer
//! (up to `max_slowdown`), stretching the age and row bounds so the consumer
//! sends fewer, bigger INSERTs; it halves again after each calm
//! [`COOLDOWN`]. The byte bound never grows: it is the memory bound.
//!
//! Invariant: while batches close by age (the many-small-projects case),
//! one worker sends at most `budget × W + (INSERTs of one batch)` INSERTs to
//! its table over any window `W`, whatever the number of projects.

use std::time::{Duration, Instant};

use crate::config::ConsumerConfig;
use crate::pipeline::BatchPolicy;
use crate::sink::batch::Batch;

/// How long without pressure before the slow-down halves.
pub const COOLDOWN: Duration = Duration::from_secs(30);

/// INSERT statements a batch of `projects` needs.
pub fn inserts_needed(projects: usize, max_projects_per_insert: usize) -> usize {
    projects.div_ceil(max_projects_per_insert.max(1))
}

/// The age bound of a batch needing `inserts` INSERTs.
pub fn effective_age(max_age: Duration, inserts: usize, budget: f64, slowdown: u32) -> Duration {
    let stretched = max_age.saturating_mul(slowdown.max(1));
    stretched.max(pay_for(inserts, budget))
}

/// The time `inserts` INSERTs take out of a budget of `budget` per second.
fn pay_for(inserts: usize, budget: f64) -> Duration {
    if budget <= 0.0 || !budget.is_finite() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(inserts as f64 / budget).unwrap_or(Duration::MAX)
}

/// One worker's pacing state.
#[derive(Debug)]
pub struct Pace {
    budget: f64,
    max_slowdown: u32,
    slowdown: u32,
    last_pressure: Option<Instant>,
    next_flush: Option<Instant>,
}

impl Pace {
    /// Pacing by `cfg`'s budget and slow-down cap.
    pub fn new(cfg: &ConsumerConfig) -> Pace {
        Pace {
            budget: cfg.max_inserts_per_second_per_table,
            max_slowdown: cfg.max_slowdown.max(1),
            slowdown: 1,
            last_pressure: None,
            next_flush: None,
        }
    }

    /// The current slow-down factor (1 = none).
    pub fn slowdown(&self) -> u32 {
        self.slowdown
    }

    /// Whether a size bound is reached (rows stretched by the slow-down).
    pub fn is_full(&self, batch: &Batch, policy: &BatchPolicy) -> bool {
        let rows = policy.max_rows.saturating_mul(self.slowdown as usize);
        batch.rows() >= rows || batch.bytes() >= policy.max_bytes
    }

    /// When `batch` should flush (None while empty).
    pub fn deadline(&self, batch: &Batch, policy: &BatchPolicy) -> Option<Instant> {
        if self.is_full(batch, policy) {
            return Some(Instant::now());
        }
        let inserts = inserts_needed(batch.projects(), policy.max_projects_per_insert);
        let age = effective_age(policy.max_age(), inserts, self.budget, self.slowdown);
        let due = batch.opened()?.checked_add(age)?;
        Some(self.next_flush.map_or(due, |at| at.max(due)))
    }

    /// Records a flush that started at `started` and sent `inserts` INSERTs.
    pub fn flushed(&mut self, started: Instant, inserts: usize) {
        self.next_flush = started.checked_add(pay_for(inserts, self.budget));
        let calm = self.last_pressure.is_none_or(|at| at.elapsed() >= COOLDOWN);
        if calm && self.slowdown > 1 {
            self.slowdown /= 2;
            self.last_pressure = Some(Instant::now());
        }
    }

    /// ClickHouse is overloaded: slow down.
    pub fn pressure(&mut self) {
        self.slowdown = (self.slowdown * 2).min(self.max_slowdown);
        self.last_pressure = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BatchPolicy {
        BatchPolicy {
            max_rows: 100_000,
            max_bytes: 32 << 20,
            max_age_ms: 500,
            max_projects_per_insert: 100,
        }
    }

    fn cfg(budget: f64) -> ConsumerConfig {
        ConsumerConfig {
            max_inserts_per_second_per_table: budget,
            max_slowdown: 8,
            ..crate::config::Config::default().consumer
        }
    }

    #[test]
    fn a_thousand_projects_stay_within_the_insert_budget() {
        let p = policy();
        let max_age = p.max_age();
        // 1,000 active projects, 100 per INSERT: 10 INSERTs per batch.
        let inserts = inserts_needed(1_000, p.max_projects_per_insert);
        assert_eq!(inserts, 10);
        // Budget 2/s: the batch is held 5 s, so 10 INSERTs / 5 s = 2 per second.
        let age = effective_age(max_age, inserts, 2.0, 1);
        assert_eq!(age, Duration::from_secs(5));
        assert!((inserts as f64 / age.as_secs_f64()) <= 2.0);
        // 20 projects need one INSERT: the configured 500 ms age stands.
        assert_eq!(
            effective_age(max_age, inserts_needed(20, 100), 2.0, 1),
            max_age
        );
        // 10,000 projects at budget 4/s: 100 INSERTs, held 25 s.
        assert_eq!(
            effective_age(max_age, inserts_needed(10_000, 100), 4.0, 1),
            Duration::from_secs(25)
        );
        // Under pressure the age stretches even for one INSERT.
        assert_eq!(effective_age(max_age, 1, 2.0, 8), Duration::from_secs(4));
        // A zero budget means "no budget", not a division by zero.
        assert_eq!(effective_age(max_age, 10, 0.0, 1), max_age);
    }

    #[test]
    fn batch_deadline_follows_its_project_count() {
        let pace = Pace::new(&cfg(2.0));
        let mut batch = Batch::default();
        assert!(pace.deadline(&batch, &policy()).is_none());
        for p in 0..1_000 {
            batch.push(format!("o/p{p}").as_bytes(), 0, p, b"x", 1);
        }
        let opened = batch.opened().expect("opened");
        let due = pace.deadline(&batch, &policy()).expect("due");
        assert_eq!(due - opened, Duration::from_secs(5));
    }

    #[test]
    fn an_age_closed_batch_waits_for_the_last_flush_and_a_full_one_does_not() {
        let mut pace = Pace::new(&cfg(2.0));
        let started = Instant::now();
        pace.flushed(started, 10);
        let mut batch = Batch::default();
        batch.push(b"o/p", 0, 0, b"x", 1);
        let due = pace.deadline(&batch, &policy()).expect("due");
        assert!(
            due >= started + Duration::from_secs(5),
            "{:?}",
            due - started
        );
        batch.push(b"o/p", 0, 1, &vec![0u8; 40 << 20], 1);
        assert!(pace.is_full(&batch, &policy()));
        let due = pace.deadline(&batch, &policy()).expect("due");
        assert!(
            due < started + Duration::from_secs(1),
            "a full batch flushes at once"
        );
    }

    #[test]
    fn pressure_doubles_the_slowdown_up_to_its_cap_and_grows_the_row_bound() {
        let mut pace = Pace::new(&cfg(2.0));
        let mut batch = Batch::default();
        batch.push(b"o/p", 0, 0, b"x", 150_000);
        assert!(pace.is_full(&batch, &policy()));
        for expected in [2, 4, 8, 8] {
            pace.pressure();
            assert_eq!(pace.slowdown(), expected);
        }
        assert!(!pace.is_full(&batch, &policy()), "row bound grew 8x");
        // Within the cooldown a successful flush keeps the slow-down.
        pace.flushed(Instant::now(), 1);
        assert_eq!(pace.slowdown(), 8);
        // After a calm cooldown it halves.
        pace.last_pressure = Instant::now().checked_sub(COOLDOWN);
        pace.flushed(Instant::now(), 1);
        assert_eq!(pace.slowdown(), 4);
    }
}
