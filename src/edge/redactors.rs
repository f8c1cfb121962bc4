//! The redaction policies this edge has compiled, by (org, policy id): a
//! policy is compiled on its first request and kept (policies never change
//! once created, `registry::policies`), so a request pays one cache lookup.
//!
//! Invariants: `default` is compiled once for every org; a policy that
//! cannot be read is never guessed at (the request gets 503); a stored
//! policy that no longer compiles, or an id with no policy yet, runs as
//! `default` (every built-in detector), never as nothing, and is asked for
//! again on the next request (only a compiled policy is kept).

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
        if let Some(compiled) = self.cache.get(&key).await {
            return Ok(compiled);
        }
        let Some(policy) = self.store.get(org, id).await.map_err(Arc::new)? else {
            tracing::warn!(org = %org, policy = id, "no such policy: running the default");
            return Ok(self.default.clone());
        };
        match Redactor::new(&policy.detectors, &policy.rules()) {
            Ok(r) => {
                let compiled = Arc::new(r);
                self.cache.insert(key, compiled.clone()).await;
                Ok(compiled)
            }
            Err(e) => {
                tracing::warn!(org = %org, policy = id, error = %e, "policy does not compile: running the default");
                Ok(self.default.clone())
            }
        }
    }
}
