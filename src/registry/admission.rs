//! The edge's project check: may this org send to this slug? (docs/CONTRACT.md §C3, §C6)
//!
//! | project sent | result |
//! | unset, empty, `default` | accepted (never looked up) |
//! | active or pending slug | accepted |
//! | archived slug | 403 |
//! | new slug, org under its pending limit | accepted, recorded as pending |
//! | new slug beyond the limit | 403 |
//!
//! An admitted project also carries what the edge enforces per request: its
//! `rate_limit_rpm` and `allowed_origins`; before a body is encoded the
//! edge asks for its [`Protection`] (the active redaction policy and the
//! retention stamped into its rows), which a pending or new slug has at its
//! default.
//!
//! Each org's view (its projects, pending slugs and limit) is cached in moka
//! (the sync cache: its lookup is cheaper than the future cache's, and a hit
//! needs no await), so a request for a known slug does no I/O. Only a *new* slug costs a round
//! trip: under a per-org lock the edge reloads the view, checks the limit and
//! records the slug. Edges share the limit through ClickHouse, so N edges that
//! admit new slugs of one org in the same instant can overshoot the limit by
//! at most N − 1 slugs (each one passes the check before seeing the others'
//! rows). If the registry is unreachable, the last view loaded is served
//! (stale, counted in `downpour_registry_stale_total`) for at most
//! `registry.stale_grace_ms` after it was read; past that the edge answers 503.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::projects::{ProjectError, ProjectStore, Retention};
use super::slug::Slug;
use crate::telemetry::catalogue::Counter;

/// What the edge knows about a slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugState {
    /// A created, active project.
    Active,
    /// An archived project: data refused.
    Archived,
    /// Seen on ingest, not created yet: data accepted and stored.
    Pending,
    /// New, and the org had no room for another pending slug.
    OverLimit,
}

/// The project check's answer for one slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (an active or pending project, or a new slug now pending).
    Admitted(Admitted),
    /// The project is archived: 403.
    Archived,
    /// A new slug, and the org has this many pending slugs already: 403.
    OverPendingLimit(u32),
}

/// One org's slugs as the edge sees them.
#[derive(Debug, Default)]
pub struct OrgView {
    /// When it was read from the registry (`None`: primed, never read).
    loaded_at: Option<std::time::Instant>,
    slugs: HashMap<String, SlugState>,
    /// `rate_limit_rpm` of the projects that have one.
    rate_limits: HashMap<String, u32>,
    /// `allowed_origins` of the projects that restrict them.
    origins: HashMap<String, Arc<[String]>>,
    /// The redaction settings of the projects not at the default.
    protections: HashMap<String, Protection>,
    pending: u32,
    limit: u32,
}

impl OrgView {
    /// The verdict for a slug this view knows; `None` for a new one.
    fn decide(&self, slug: &str) -> Option<Verdict> {
        match self.slugs.get(slug)? {
            SlugState::Active | SlugState::Pending => Some(Verdict::Admitted(self.admitted(slug))),
            SlugState::Archived => Some(Verdict::Archived),
            SlugState::OverLimit => Some(Verdict::OverPendingLimit(self.limit)),
        }
    }

    fn admitted(&self, slug: &str) -> Admitted {
        Admitted {
            rate_limit_rpm: self.rate_limits.get(slug).copied(),
            allowed_origins: self.origins.get(slug).cloned(),
        }
    }
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct SlugRow {
    slug: String,
    status: String,
    rate_limit_rpm: u32,
    allowed_origins: Vec<String>,
    active_policy_id: String,
    filter_all_messages: u8,
    body_retention_hours: u32,
    log_retention_days: u32,
}

/// What a project's data goes through before it is encoded: its redaction
/// (docs/CONTRACT.md §C23) and the retention stamped into its rows (§C24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// The active redaction policy's id.
    pub policy: Arc<str>,
    /// `filter_all_messages`: every turn of a conversation, or the last.
    pub all_messages: bool,
    /// `body_retention_hours` and `log_retention_days`.
    pub retention: Retention,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            policy: crate::registry::policies::DEFAULT_POLICY.into(),
            all_messages: true,
            retention: Retention::default(),
        }
    }
}

/// An accepted slug, with the project's rate limit and origins if it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// `rate_limit_rpm`, when set.
    pub rate_limit_rpm: Option<u32>,
    /// `allowed_origins`, when set (lowercase); `None` is any origin.
    pub allowed_origins: Option<Arc<[String]>>,
}

impl Admitted {
    /// Whether a browser on `origin` (its `Origin` header) may send.
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        self.allowed_origins.as_ref().is_none_or(|allowed| {
            allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
        })
    }
}

/// The cached project check.
#[derive(Clone)]
pub struct Admission {
    store: ProjectStore,
    cache: moka::sync::Cache<String, Arc<OrgView>>,
    last_loaded: Arc<DashMap<String, Arc<OrgView>>>,
    stale_grace: Duration,
}

impl Admission {
    /// A check over `store`, caching each org's view for `ttl`; while the
    /// registry is unreachable, a view read less than `stale_grace` ago is
    /// still served (so an archive made during an outage holds within that
    /// bound), an older one is not (503).
    pub fn new(store: ProjectStore, ttl: Duration, stale_grace: Duration) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        Admission {
            store,
            cache,
            last_loaded: Arc::new(DashMap::new()),
            stale_grace,
        }
    }

    /// Decides whether `org` may send to `slug`; `Err` only when the registry
    /// cannot be asked and nothing is cached for the org.
    pub async fn admit(&self, org: &str, slug: &Slug) -> Result<Verdict, ProjectError> {
        if slug.is_default() {
            // `default` is never refused; its rate limit applies when a view is at hand.
            let view = match self.cache.get(org) {
                Some(view) => Some(view),
                None => self.load_cached(org).await.ok(),
            };
            return Ok(Verdict::Admitted(match view {
                Some(view) => view.admitted(slug.as_str()),
                None => Admitted {
                    rate_limit_rpm: None,
                    allowed_origins: None,
                },
            }));
        }
        let view = match self.cache.get(org) {
            Some(view) => view,
            None => self.load_cached(org).await?,
        };
        match view.decide(slug.as_str()) {
            Some(verdict) => Ok(verdict),
            None => self.admit_new(org, slug).await,
        }
    }

    /// The redaction settings of `slug` (the defaults for a pending or new
    /// slug), from the org's cached view: as fresh as `admit`'s, so a
    /// policy switch reaches every edge within `registry.cache_ttl_ms`.
    /// `Err` when the registry cannot be asked and nothing is cached: the
    /// caller refuses (503) rather than store data under a policy it does
    /// not know.
    pub async fn protection(&self, org: &str, slug: &Slug) -> Result<Protection, ProjectError> {
        let view = match self.cache.get(org) {
            Some(view) => view,
            None => self.load_cached(org).await?,
        };
        Ok(view
            .protections
            .get(slug.as_str())
            .cloned()
            .unwrap_or_default())
    }

    /// Loads a missing view once per org at a time (the others wait and reuse it).
    async fn load_cached(&self, org: &str) -> Result<Arc<OrgView>, ProjectError> {
        let _guard = self.store.lock_org(org).await;
        if let Some(view) = self.cache.get(org) {
            return Ok(view);
        }
        match self.load(org).await {
            Ok(view) => {
                self.cache.insert(org.to_string(), view.clone());
                Ok(view)
            }
            Err(e) => match self.last_loaded.get(org) {
                Some(view)
                    if view
                        .loaded_at
                        .is_some_and(|at| at.elapsed() <= self.stale_grace) =>
                {
                    Counter::registry_stale("project").increment(1);
                    tracing::warn!(org, error = %e, "registry unreachable, serving the last view");
                    Ok(view.clone())
                }
                _ => Err(ProjectError::Down(Box::new(e))),
            },
        }
    }

    async fn load(&self, org: &str) -> Result<Arc<OrgView>, ProjectError> {
        let rows: Vec<SlugRow> = self
            .store
            .db()
            .query(
                "SELECT slug, if(max(status = 'archived') = 1, 'archived', 'active'), argMax(rate_limit_rpm, version), \
                 argMax(allowed_origins, version), argMax(active_policy_id, version), \
                 argMax(filter_all_messages, version), argMax(body_retention_hours, version), \
                 argMax(log_retention_days, version) FROM projects WHERE org = ? GROUP BY slug",
            )
            .bind(org)
            .fetch_all()
            .await?;
        let mut view = OrgView {
            loaded_at: Some(std::time::Instant::now()),
            limit: self.store.pending_limit(org).await?,
            ..OrgView::default()
        };
        for row in rows {
            let state = if row.status == "archived" {
                SlugState::Archived
            } else {
                SlugState::Active
            };
            if row.rate_limit_rpm > 0 {
                view.rate_limits
                    .insert(row.slug.clone(), row.rate_limit_rpm);
            }
            if !row.allowed_origins.is_empty() {
                view.origins
                    .insert(row.slug.clone(), row.allowed_origins.into());
            }
            let protection = Protection {
                policy: if row.active_policy_id.is_empty() {
                    Protection::default().policy
                } else {
                    row.active_policy_id.into()
                },
                all_messages: row.filter_all_messages != 0,
                retention: Retention {
                    body_hours: row.body_retention_hours,
                    log_days: row.log_retention_days,
                },
            };
            if protection != Protection::default() {
                view.protections.insert(row.slug.clone(), protection);
            }
            view.slugs.insert(row.slug, state);
        }
        for (slug, _) in self.store.pending_slugs(org).await? {
            view.slugs.entry(slug).or_insert(SlugState::Pending);
            view.pending += 1;
        }
        let view = Arc::new(view);
        self.last_loaded.insert(org.to_string(), view.clone());
        Ok(view)
    }

    /// A slug this edge has not seen: reload, check the limit, record it.
    async fn admit_new(&self, org: &str, slug: &Slug) -> Result<Verdict, ProjectError> {
        let _guard = self.store.lock_org(org).await;
        let fresh = self.load(org).await?;
        if let Some(verdict) = fresh.decide(slug.as_str()) {
            self.cache.insert(org.to_string(), fresh);
            return Ok(verdict);
        }
        let mut view = OrgView {
            loaded_at: fresh.loaded_at,
            slugs: fresh.slugs.clone(),
            rate_limits: fresh.rate_limits.clone(),
            origins: fresh.origins.clone(),
            protections: fresh.protections.clone(),
            pending: fresh.pending,
            limit: fresh.limit,
        };
        let verdict = if view.pending >= view.limit {
            view.slugs.insert(slug.to_string(), SlugState::OverLimit);
            Counter::registry_refused("pending_limit").increment(1);
            Verdict::OverPendingLimit(view.limit)
        } else {
            self.store.record_pending(org, slug).await?;
            view.slugs.insert(slug.to_string(), SlugState::Pending);
            view.pending += 1;
            Counter::registry_pending_recorded().increment(1);
            Verdict::Admitted(Admitted {
                rate_limit_rpm: None,
                allowed_origins: None,
            })
        };
        let view = Arc::new(view);
        self.last_loaded.insert(org.to_string(), view.clone());
        self.cache.insert(org.to_string(), view);
        Ok(verdict)
    }

    /// Caches a view of `org` without asking the registry (benches and tests).
    pub async fn prime(&self, org: &str, slugs: &[(&str, SlugState)], limit: u32) {
        let mut view = OrgView {
            limit,
            ..OrgView::default()
        };
        for (slug, state) in slugs {
            view.slugs.insert((*slug).to_string(), *state);
            view.pending += u32::from(*state == SlugState::Pending);
        }
        self.cache.insert(org.to_string(), Arc::new(view));
    }

    /// Forgets the cached view of `org` (after an admin change in this process).
    pub async fn invalidate(&self, org: &str) {
        self.cache.invalidate(org);
    }
}
