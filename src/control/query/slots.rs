//! Queries one org may run at once (`query.max_concurrent_per_org`): on
//! ClickHouse 18.16 a read of events also merges every org's partial
//! events, so one org's burst of queries would slow every other org's.
//!
//! Invariant: a query holds its org's slot from the moment its caller is
//! authorized until its answer is built (the [`Slot`] lives in the
//! request's `Scope`); past the cap a query is refused at once, never queued.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One running query of an org.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// Slots per org.
#[derive(Debug)]
pub struct OrgSlots {
    per_org: usize,
    orgs: DashMap<Arc<str>, Arc<Semaphore>>,
}

impl OrgSlots {
    /// `per_org` queries per org at once (at least 1).
    pub fn new(per_org: usize) -> OrgSlots {
        OrgSlots {
            per_org: per_org.max(1),
            orgs: DashMap::new(),
        }
    }

    /// A slot of `org`, or `None` while it runs its cap already.
    pub fn take(&self, org: &Arc<str>) -> Option<Slot> {
        let slots = match self.orgs.get(org) {
            Some(slots) => slots.clone(),
            None => self
                .orgs
                .entry(org.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_org)))
                .clone(),
        };
        slots.try_acquire_owned().ok().map(Slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_runs_at_most_its_cap_and_others_are_not_charged() {
        let slots = OrgSlots::new(2);
        let (acme, other): (Arc<str>, Arc<str>) = ("acme".into(), "other".into());
        let first = slots.take(&acme).expect("first");
        let _second = slots.take(&acme).expect("second");
        assert!(slots.take(&acme).is_none(), "a third waits");
        assert!(slots.take(&other).is_some(), "another org has its own");
        drop(first);
        assert!(
            slots.take(&acme).is_some(),
            "a finished query frees its slot"
        );
    }
}
