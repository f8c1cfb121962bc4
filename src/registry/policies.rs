//! Redaction policies (docs/CONTRACT.md §C23): an org's named sets of
//! built-in detectors and regex rules, one of which each project has
//! active (`settings.active_policy_id`). Stored in `redaction_policies`
//! (sql/0009).
//!
//! Invariants: a policy never changes once created (to change what a
//! project redacts, create a policy and switch to it), so an edge may keep
//! a compiled policy for as long as it likes; `default` is every org's
//! built-in policy (every detector, no rule) and is not stored; every
//! value is bound.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::redact::{Detector, Rule};

/// The built-in policy every org has: every detector, no rule.
pub const DEFAULT_POLICY: &str = "default";

/// A policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Policy {
    /// `default`, or `pol_` and 16 characters.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The built-in detectors it runs, in the order they run.
    pub detectors: Vec<Detector>,
    /// The org's own rules it runs after them.
    pub rules: Vec<RuleBody>,
    /// Creation time, seconds since the epoch (0 for `default`).
    pub created_at: u32,
}

/// A rule as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleBody {
    /// Shown as `[REDACTED:<name>]`: 1 to 32 of `[a-z0-9_-]`.
    pub name: String,
    /// A regular expression (the `regex` crate's syntax).
    pub pattern: String,
}

impl Policy {
    /// The built-in `default`.
    pub fn default_policy() -> Policy {
        Policy {
            id: DEFAULT_POLICY.into(),
            name: "Default: every built-in detector".into(),
            detectors: Detector::ALL.to_vec(),
            rules: Vec::new(),
            created_at: 0,
        }
    }

    /// Its rules as the redactor takes them.
    pub fn rules(&self) -> Vec<Rule> {
        self.rules
            .iter()
            .map(|r| Rule {
                name: r.name.clone(),
                pattern: r.pattern.clone(),
            })
            .collect()
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PolicyRow {
    policy_id: String,
    name: String,
    detectors: Vec<String>,
    rules: String,
    created_at: u32,
}

impl PolicyRow {
    /// The policy; a row whose rules do not parse is an error, never a
    /// policy without rules.
    fn into_policy(self) -> Result<Policy, PolicyError> {
        let rules = serde_json::from_str(&self.rules)
            .map_err(|e| PolicyError::Corrupt(self.policy_id.clone(), e.to_string()))?;
        Ok(Policy {
            id: self.policy_id,
            name: self.name,
            detectors: self
                .detectors
                .iter()
                .filter_map(|d| Detector::parse(d))
                .collect(),
            rules,
            created_at: self.created_at,
        })
    }
}

/// Why a policy could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// ClickHouse failed.
    #[error("policies unavailable: {0}")]
    Unavailable(#[from] clickhouse::error::Error),
    /// A stored policy's rules do not parse.
    #[error("policy {0} is corrupt: {1}")]
    Corrupt(String, String),
}

/// The policies of every org.
#[derive(Clone)]
pub struct PolicyStore {
    db: clickhouse::Client,
}

impl PolicyStore {
    /// A store over downpour's database.
    pub fn new(db: clickhouse::Client) -> PolicyStore {
        PolicyStore { db }
    }

    /// Stores a new policy of `org` (checked by the caller) and returns it.
    pub async fn create(
        &self,
        org: &str,
        name: &str,
        detectors: Vec<Detector>,
        rules: Vec<RuleBody>,
    ) -> Result<Policy, PolicyError> {
        let id = format!("pol_{}", crate::registry::keys::public_id(16));
        let mut detectors = detectors;
        detectors.sort();
        detectors.dedup();
        let created_at = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let names: Vec<&str> = detectors.iter().map(|d| d.as_str()).collect();
        let rules_json = serde_json::to_string(&rules).unwrap_or_else(|_| "[]".into());
        self.db
            .query(
                "INSERT INTO redaction_policies (org, policy_id, name, detectors, rules, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(org)
            .bind(&id)
            .bind(name)
            .bind(names)
            .bind(&rules_json)
            .bind(created_at)
            .execute()
            .await?;
        Ok(Policy {
            id,
            name: name.to_string(),
            detectors,
            rules,
            created_at,
        })
    }

    /// The org's policies, `default` first, then oldest first.
    pub async fn list(&self, org: &str) -> Result<Vec<Policy>, PolicyError> {
        let rows: Vec<PolicyRow> = self
            .db
            .query(
                "SELECT policy_id, any(name), any(detectors), any(rules), toUInt32(min(created_at)) \
                 FROM redaction_policies WHERE org = ? GROUP BY policy_id \
                 ORDER BY min(created_at), policy_id",
            )
            .bind(org)
            .fetch_all()
            .await?;
        let mut out = vec![Policy::default_policy()];
        for row in rows {
            out.push(row.into_policy()?);
        }
        Ok(out)
    }

    /// One policy of `org`, `default` included.
    pub async fn get(&self, org: &str, id: &str) -> Result<Option<Arc<Policy>>, PolicyError> {
        if id == DEFAULT_POLICY {
            return Ok(Some(Arc::new(Policy::default_policy())));
        }
        let row: Option<PolicyRow> = self
            .db
            .query(
                "SELECT policy_id, name, detectors, rules, toUInt32(created_at) \
                 FROM redaction_policies WHERE org = ? AND policy_id = ? LIMIT 1",
            )
            .bind(org)
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| r.into_policy().map(Arc::new)).transpose()
    }
}
