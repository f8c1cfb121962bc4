//! The redaction policies this edge has compiled, by (org, policy id): a
//! policy is compiled on its first request and kept (policies never change
//! once created, `registry::policies`), so a request pays one cache lookup.
//!
//! Invariants: `default` is compiled once for every org; a policy that
//! cannot be read is never guessed at (the request gets 503); a stored
//! policy that no longer compiles, or an id with no policy, runs as
//! `default` (every built-in detector), never as nothing.

use std::sync::Arc;

use crate::redact::{Detector, Redactor};
use crate::registry::policies::{DEFAULT_POLICY, PolicyError, PolicyStore};

/// Most compiled policies an edge keeps.
const CAPACITY: u64 = 10_000;

/// The compiled policies.
#[derive(Clone)]
pub struct Redactors {
    store: PolicyStore,
    cache: moka::future::Cache<(Arc<str>, String), Arc<Redactor>>,
    default: Arc<Redactor>,
}

impl Redactors {
    /// Policies read from `store`.
    pub fn new(store: PolicyStore) -> Redactors {
        let default = Redactor::new(&Detector::ALL, &[]).unwrap_or_else(|_| Redactor::none());
        Redactors {
            store,
            cache: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .build(),
            default: Arc::new(default),
        }
    }

    /// The compiled policy `id` of `org`.
    pub async fn get(&self, org: &Arc<str>, id: &str) -> Result<Arc<Redactor>, Arc<PolicyError>> {
        if id == DEFAULT_POLICY {
            return Ok(self.default.clone());
        }
        let key = (org.clone(), id.to_string());
        self.cache
            .try_get_with(key, async {
                let Some(policy) = self.store.get(org, id).await? else {
                    tracing::warn!(org = %org, policy = id, "no such policy: running the default");
                    return Ok(self.default.clone());
                };
                match Redactor::new(&policy.detectors, &policy.rules()) {
                    Ok(r) => Ok(Arc::new(r)),
                    Err(e) => {
                        tracing::warn!(org = %org, policy = id, error = %e, "policy does not compile: running the default");
                        Ok(self.default.clone())
                    }
                }
            })
            .await
    }
}
