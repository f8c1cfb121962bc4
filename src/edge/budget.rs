//! The memory budget of request bodies in flight (`edge.max_inflight_body_bytes`),
//! shared fairly between orgs (`edge.max_inflight_body_share`).
//!
//! Invariants:
//! - a request holds twice the bytes it has read or declared (the body and
//!   its encoded rows), counted in KiB, and gives them back when dropped;
//! - a body without `Content-Length` (chunked) is reserved as it arrives,
//!   in 64 KiB steps, so what it holds is what it actually sent, never what
//!   it claimed (a request that declares a length and is also chunked is
//!   refused before it gets here, `src/serve/`);
//! - an org that already holds part of the budget may not go past its
//!   share: a few slow uploads of one org cannot starve the others. An org
//!   that holds nothing may always try, so one large request of a small
//!   org still runs when the budget has room;
//! - a request larger than the whole budget is clamped to the whole budget,
//!   so it still runs when nothing else is in flight.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How much a chunked body's reservation grows by.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The budget, with what each org holds.
pub struct BodyBudget {
    kib: Semaphore,
    total_kib: u32,
    org_share_kib: u32,
    held: DashMap<Arc<str>, u32>,
}

/// A request's share of the [`BodyBudget`], returned when dropped.
pub struct Reservation<'a> {
    budget: &'a BodyBudget,
    org: Arc<str>,
    permit: SemaphorePermit<'a>,
    kib: u32,
}

impl BodyBudget {
    /// A budget of `bytes` (at least 1 KiB), of which one org may hold
    /// `share` (0 < share ≤ 1).
    pub fn new(bytes: usize, share: f64) -> BodyBudget {
        let total_kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            1.0
        };
        BodyBudget {
            kib: Semaphore::new(total_kib as usize),
            total_kib,
            org_share_kib: ((f64::from(total_kib) * share) as u32).max(1),
            held: DashMap::new(),
        }
    }

    /// Bytes the whole budget holds.
    pub fn total_bytes(&self) -> usize {
        self.total_kib as usize * 1024
    }

    /// Reserves room for a body of `bytes` for `org`; `None` when the budget,
    /// or the org's share of it, is spent.
    pub fn reserve(&self, org: &Arc<str>, bytes: usize) -> Option<Reservation<'_>> {
        let kib = self.kib_for(bytes);
        if !self.org_may_take(org, kib, 0) {
            return None;
        }
        let permit = self.kib.try_acquire_many(kib).ok()?;
        *self.held.entry(org.clone()).or_insert(0) += kib;
        Some(Reservation {
            budget: self,
            org: org.clone(),
            permit,
            kib,
        })
    }

    /// KiB held for a body of `bytes`: twice it, within the whole budget.
    fn kib_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(1024).saturating_mul(2))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib)
    }

    /// Whether `org` may take `kib` more for a request already holding
    /// `mine`: within its share, or past it only while that request is the
    /// org's only one in flight (a single body larger than the share).
    fn org_may_take(&self, org: &str, kib: u32, mine: u32) -> bool {
        let held = self.held.get(org).map_or(0, |h| *h);
        held.saturating_sub(mine) == 0 || held.saturating_add(kib) <= self.org_share_kib
    }

    fn give_back(&self, org: &str, kib: u32) {
        if let Some(mut held) = self.held.get_mut(org) {
            *held = held.saturating_sub(kib);
        }
        self.held.remove_if(org, |_, held| *held == 0);
    }
}

impl Reservation<'_> {
    /// Bytes of body this reservation covers.
    pub fn covers(&self) -> usize {
        (self.kib as usize * 1024) / 2
    }

    /// Grows the reservation to cover a body of `bytes` (a chunked body as
    /// it arrives); false when the budget or the org's share is spent.
    pub fn grow_to(&mut self, bytes: usize) -> bool {
        let want = self
            .budget
            .kib_for(bytes.div_ceil(CHUNK_BYTES) * CHUNK_BYTES);
        if want <= self.kib {
            return true;
        }
        let more = want - self.kib;
        if !self.budget.org_may_take(&self.org, more, self.kib) {
            return false;
        }
        let Ok(permit) = self.budget.kib.try_acquire_many(more) else {
            return false;
        };
        self.permit.merge(permit);
        *self.budget.held.entry(self.org.clone()).or_insert(0) += more;
        self.kib = want;
        true
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.give_back(&self.org, self.kib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn one_org_cannot_take_more_than_its_share() {
        // 1 MiB, a quarter per org: 256 KiB.
        let budget = BodyBudget::new(1024 * 1024, 0.25);
        let (a, b) = (org("a"), org("b"));
        let first = budget
            .reserve(&a, 100 * 1024)
            .expect("an org holding nothing may try");
        assert!(
            budget.reserve(&a, 100 * 1024).is_none(),
            "200 + 200 KiB is past a's share"
        );
        let other = budget.reserve(&b, 100 * 1024);
        assert!(other.is_some(), "b is not held back by a");
        drop(first);
        assert!(
            budget.reserve(&a, 100 * 1024).is_some(),
            "a's share came back"
        );
    }

    #[test]
    fn a_large_request_runs_alone() {
        let budget = BodyBudget::new(100 * 1024, 0.25);
        let a = org("a");
        let big = budget
            .reserve(&a, 10 * 1024 * 1024)
            .expect("clamped to the budget");
        assert!(budget.reserve(&org("b"), 1024).is_none(), "nothing left");
        drop(big);
        assert!(budget.reserve(&org("b"), 1024).is_some());
    }

    #[test]
    fn a_chunked_body_holds_what_it_sent() {
        let budget = BodyBudget::new(1024 * 1024, 1.0);
        let a = org("a");
        let mut r = budget.reserve(&a, CHUNK_BYTES).expect("first chunk");
        assert_eq!(r.covers(), CHUNK_BYTES);
        assert!(r.grow_to(CHUNK_BYTES + 1));
        assert_eq!(r.covers(), 2 * CHUNK_BYTES);
        let other = budget.reserve(&org("b"), 64 * 1024).expect("b: 128 KiB");
        assert!(r.grow_to(448 * 1024), "896 KiB: all that is left");
        assert!(
            !r.grow_to(448 * 1024 + 1),
            "past what is left of the budget"
        );
        assert_eq!(r.covers(), 448 * 1024, "a failed growth keeps what it had");
        drop(other);
        drop(r);
        assert!(budget.held.is_empty(), "everything given back");
        assert_eq!(budget.kib.available_permits(), 1024);
    }
}
