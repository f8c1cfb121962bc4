//! The projects registry in ClickHouse: create, read, update, archive, the
//! pending slugs and each org's pending limit.
//!
//! ClickHouse is the source of truth so users run no extra server. Writes are
//! synchronous INSERTs and reads use `FINAL`, so the admin API reads its own
//! writes at once. raindrop-projects.md wins where the documents disagree:
//! "There is no hard delete yet", archived slugs "are not reusable", and
//! `default` ("Production") always exists and cannot be archived.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use super::slug::{DEFAULT_SLUG, Slug};

/// Display name of the `default` project until renamed.
pub const DEFAULT_NAME: &str = "Production";

/// A project's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepts data and reads.
    Active,
    /// Refuses data (403) and reads; its slug is never reused.
    Archived,
}

impl Status {
    fn parse(s: &str) -> Status {
        if s == "archived" {
            Status::Archived
        } else {
            Status::Active
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }
}

/// Per-project settings (collieai-projects.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Requests per minute; `null` is unlimited.
    pub rate_limit_rpm: Option<u32>,
    /// Hours request and response bodies are kept (default 48).
    pub body_retention_hours: u32,
    /// Days the rest of a log row is kept (default 90).
    pub log_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate_limit_rpm: None,
            body_retention_hours: 48,
            log_retention_days: 90,
        }
    }
}

impl Settings {
    /// collieai-projects.md: "The invariant `body_retention_hours ≤
    /// log_retention_days × 24` is enforced"; `rate_limit_rpm` is null or > 0.
    pub fn check(&self) -> Result<(), ProjectError> {
        let invalid = |field: &str, why: &str| {
            Err(ProjectError::Invalid {
                field: field.into(),
                reason: why.into(),
            })
        };
        if self.rate_limit_rpm == Some(0) {
            return invalid("settings.rate_limit_rpm", "must be null or greater than 0");
        }
        if self.log_retention_days == 0 {
            return invalid("settings.log_retention_days", "must be greater than 0");
        }
        if u64::from(self.body_retention_hours) > u64::from(self.log_retention_days) * 24 {
            return invalid(
                "settings.body_retention_hours",
                "must be at most log_retention_days × 24",
            );
        }
        Ok(())
    }
}

/// Settings fields to change; `None` keeps the value. Applied under the
/// org's lock, so two concurrent PATCHes of different fields both stick.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingsPatch {
    /// `Some(None)` clears the limit.
    pub rate_limit_rpm: Option<Option<u32>>,
    /// New body retention.
    pub body_retention_hours: Option<u32>,
    /// New log retention.
    pub log_retention_days: Option<u32>,
}

impl SettingsPatch {
    /// `base` with the patched fields replaced.
    pub fn apply(self, base: Settings) -> Settings {
        Settings {
            rate_limit_rpm: self.rate_limit_rpm.unwrap_or(base.rate_limit_rpm),
            body_retention_hours: self
                .body_retention_hours
                .unwrap_or(base.body_retention_hours),
            log_retention_days: self.log_retention_days.unwrap_or(base.log_retention_days),
        }
    }
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// Immutable slug (the `X-Raindrop-Project-Id` value).
    pub slug: String,
    /// The same slug, under projects-crud-api.md's name for it.
    pub canonical_name: String,
    /// Display name.
    pub name: String,
    /// Free-form JSON object.
    pub metadata: serde_json::Value,
    /// Lifecycle state.
    pub status: Status,
    /// Settings.
    pub settings: Settings,
    /// Creation time, seconds since the epoch.
    pub created_at: u32,
    /// Last change, seconds since the epoch.
    pub updated_at: u32,
}

/// The mutable fields of a project; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// New display name.
    pub name: Option<String>,
    /// New metadata object.
    pub metadata: Option<serde_json::Value>,
    /// Settings fields to change.
    pub settings: SettingsPatch,
    /// PUT: settings not in the patch return to their defaults instead of
    /// keeping their current values.
    pub reset_settings: bool,
}

/// A pending slug: data received, no project yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingSlug {
    /// The slug.
    pub slug: String,
    /// Events received so far.
    pub event_count: u64,
    /// Last time data arrived, seconds since the epoch (0 before the consumer saw any).
    pub last_seen: u32,
    /// When the edge first accepted it.
    pub first_seen: u32,
}

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No such project.
    #[error("project {0} not found")]
    NotFound(String),
    /// The slug exists, was archived, or is reserved.
    #[error("{0}")]
    Conflict(String),
    /// A field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// ClickHouse failed.
    #[error("registry unavailable: {0}")]
    Unavailable(#[from] clickhouse::error::Error),
    /// The registry could not be asked and nothing was cached.
    #[error("registry unavailable: {0}")]
    Down(String),
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ProjectRow {
    slug: String,
    name: String,
    metadata: String,
    status: String,
    rate_limit_rpm: u32,
    body_retention_hours: u32,
    log_retention_days: u32,
    created_at: u32,
    updated_at: u32,
}

impl ProjectRow {
    fn into_project(self) -> Project {
        Project {
            canonical_name: self.slug.clone(),
            slug: self.slug,
            name: self.name,
            metadata: serde_json::from_str(&self.metadata)
                .unwrap_or_else(|_| serde_json::json!({})),
            status: Status::parse(&self.status),
            settings: Settings {
                rate_limit_rpm: (self.rate_limit_rpm > 0).then_some(self.rate_limit_rpm),
                body_retention_hours: self.body_retention_hours,
                log_retention_days: self.log_retention_days,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The latest version of each project, except that archiving is sticky: a
/// project with any archived version is archived, so a racing or clock-skewed
/// update can never bring an archived project (and its slug) back.
/// `condition` is a constant with `?` placeholders.
fn select_projects(condition: &str) -> String {
    format!(
        "SELECT slug, argMax(name, version) AS p_name, argMax(metadata, version) AS p_metadata, \
         if(max(status = 'archived') = 1, 'archived', 'active') AS p_status, \
         argMax(rate_limit_rpm, version) AS p_rpm, argMax(body_retention_hours, version) AS p_hours, \
         argMax(log_retention_days, version) AS p_days, toUInt32(min(created_at)) AS p_created, \
         toUInt32(max(updated_at)) AS p_updated FROM projects WHERE {condition} GROUP BY slug ORDER BY slug"
    )
}

/// The registry store.
#[derive(Clone)]
pub struct ProjectStore {
    db: clickhouse::Client,
    default_pending_limit: u32,
    org_locks: Arc<DashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    last_version: Arc<AtomicU64>,
}

impl ProjectStore {
    /// A store over downpour's database.
    pub fn new(db: clickhouse::Client, default_pending_limit: u32) -> Self {
        ProjectStore {
            db,
            default_pending_limit,
            org_locks: Arc::new(DashMap::new()),
            last_version: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The database client.
    pub fn db(&self) -> &clickhouse::Client {
        &self.db
    }

    /// Serializes registry writes of one org within this process.
    pub async fn lock_org(&self, org: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.org_locks.entry(org.to_string()).or_default().clone();
        lock.lock_owned().await
    }

    /// A version greater than every version this process wrote before.
    fn next_version(&self) -> u64 {
        let now = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_version.compare_exchange(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Every project of `org`, `default` first, then by slug.
    pub async fn list(&self, org: &str) -> Result<Vec<Project>, ProjectError> {
        let rows: Vec<ProjectRow> = self
            .db
            .query(&select_projects("org = ?"))
            .bind(org)
            .fetch_all()
            .await?;
        let mut projects: Vec<Project> = rows.into_iter().map(ProjectRow::into_project).collect();
        if !projects.iter().any(|p| p.slug == DEFAULT_SLUG) {
            projects.push(default_project());
        }
        projects.sort_by(|a, b| {
            (a.slug != DEFAULT_SLUG, &a.slug).cmp(&(b.slug != DEFAULT_SLUG, &b.slug))
        });
        Ok(projects)
    }

    /// One project, `default` included.
    pub async fn get(&self, org: &str, slug: &Slug) -> Result<Option<Project>, ProjectError> {
        let row: Option<ProjectRow> = self
            .db
            .query(&select_projects("org = ? AND slug = ?"))
            .bind(org)
            .bind(slug.as_str())
            .fetch_optional()
            .await?;
        Ok(match row {
            Some(row) => Some(row.into_project()),
            None if slug.is_default() => Some(default_project()),
            None => None,
        })
    }

    /// Creates a project. A slug that exists, was archived, or is `default`
    /// is a conflict. Data already sent to a pending slug becomes readable.
    pub async fn create(
        &self,
        org: &str,
        slug: &Slug,
        name: Option<String>,
        changes: Changes,
    ) -> Result<Project, ProjectError> {
        if slug.is_default() {
            return Err(ProjectError::Conflict(
                "the default project always exists; its slug cannot be reused".into(),
            ));
        }
        let settings = changes.settings.apply(Settings::default());
        settings.check()?;
        let _guard = self.lock_org(org).await;
        if let Some(existing) = self.get(org, slug).await? {
            let why = match existing.status {
                Status::Active => format!("project {slug} already exists"),
                Status::Archived => {
                    format!("slug {slug} belonged to an archived project and cannot be reused")
                }
            };
            return Err(ProjectError::Conflict(why));
        }
        let now = now_secs();
        let project = Project {
            slug: slug.to_string(),
            canonical_name: slug.to_string(),
            name: name.unwrap_or_else(|| slug.to_string()),
            metadata: changes.metadata.unwrap_or_else(|| serde_json::json!({})),
            status: Status::Active,
            settings,
            created_at: now,
            updated_at: now,
        };
        self.write(org, &project).await?;
        Ok(project)
    }

    /// Applies `changes` (PATCH semantics; PUT passes every field).
    pub async fn update(
        &self,
        org: &str,
        slug: &Slug,
        changes: Changes,
    ) -> Result<Project, ProjectError> {
        let _guard = self.lock_org(org).await;
        let mut project = self
            .get(org, slug)
            .await?
            .ok_or_else(|| ProjectError::NotFound(slug.to_string()))?;
        if project.status == Status::Archived {
            return Err(ProjectError::Conflict(format!(
                "project {slug} is archived"
            )));
        }
        if let Some(name) = changes.name {
            project.name = name;
        }
        if let Some(metadata) = changes.metadata {
            project.metadata = metadata;
        }
        let base = if changes.reset_settings {
            Settings::default()
        } else {
            project.settings
        };
        let settings = changes.settings.apply(base);
        settings.check()?;
        project.settings = settings;
        project.updated_at = now_secs();
        self.write(org, &project).await?;
        Ok(project)
    }

    /// Archives a project (there is no hard delete).
    pub async fn archive(&self, org: &str, slug: &Slug) -> Result<Project, ProjectError> {
        if slug.is_default() {
            return Err(ProjectError::Conflict(
                "the default project cannot be archived".into(),
            ));
        }
        let _guard = self.lock_org(org).await;
        let mut project = self
            .get(org, slug)
            .await?
            .ok_or_else(|| ProjectError::NotFound(slug.to_string()))?;
        if project.status != Status::Archived {
            project.status = Status::Archived;
            project.updated_at = now_secs();
            self.write(org, &project).await?;
        }
        Ok(project)
    }

    async fn write(&self, org: &str, p: &Project) -> Result<(), ProjectError> {
        self.db
            .query(
                "INSERT INTO projects (org, slug, name, metadata, status, rate_limit_rpm, body_retention_hours, \
                 log_retention_days, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(org)
            .bind(&p.slug)
            .bind(&p.name)
            .bind(p.metadata.to_string())
            .bind(p.status.as_str())
            .bind(p.settings.rate_limit_rpm.unwrap_or(0))
            .bind(p.settings.body_retention_hours)
            .bind(p.settings.log_retention_days)
            .bind(p.created_at)
            .bind(p.updated_at)
            .bind(version_for(p.status, self.next_version()))
            .execute()
            .await?;
        Ok(())
    }

    /// The org's pending limit (its own setting, else the configured default).
    pub async fn pending_limit(&self, org: &str) -> Result<u32, ProjectError> {
        let limit: Option<u32> = self
            .db
            .query("SELECT pending_limit FROM org_settings FINAL WHERE org = ?")
            .bind(org)
            .fetch_optional()
            .await?;
        Ok(limit
            .filter(|l| *l > 0)
            .unwrap_or(self.default_pending_limit))
    }

    /// Sets the org's pending limit.
    pub async fn set_pending_limit(&self, org: &str, limit: u32) -> Result<(), ProjectError> {
        if limit == 0 {
            return Err(ProjectError::Invalid {
                field: "pending_limit".into(),
                reason: "must be greater than 0".into(),
            });
        }
        self.db
            .query("INSERT INTO org_settings (org, pending_limit, version) VALUES (?, ?, ?)")
            .bind(org)
            .bind(limit)
            .bind(self.next_version())
            .execute()
            .await?;
        Ok(())
    }

    /// Slugs recorded as pending that have no project yet.
    pub async fn pending_slugs(&self, org: &str) -> Result<Vec<(String, u32)>, ProjectError> {
        Ok(self
            .db
            .query(
                "SELECT slug, toUInt32(first_seen) FROM pending_slugs FINAL WHERE org = ? \
                 AND slug NOT IN (SELECT slug FROM projects WHERE org = ?) ORDER BY slug",
            )
            .bind(org)
            .bind(org)
            .fetch_all()
            .await?)
    }

    /// Records `slug` as pending for `org`.
    pub async fn record_pending(&self, org: &str, slug: &Slug) -> Result<(), ProjectError> {
        self.db
            .query("INSERT INTO pending_slugs (org, slug, first_seen) VALUES (?, ?, ?)")
            .bind(org)
            .bind(slug.as_str())
            .bind(now_secs())
            .execute()
            .await?;
        Ok(())
    }

    /// The pending panel: "Projects with data, not yet created", with event
    /// count and last seen, newest first.
    pub async fn pending(&self, org: &str) -> Result<Vec<PendingSlug>, ProjectError> {
        let slugs = self.pending_slugs(org).await?;
        let activity: Vec<(String, u64, u32)> = self
            .db
            .query(
                "SELECT project, sumIf(rows, stream = 'events'), toUInt32(max(last_seen)) FROM project_activity \
                 WHERE org = ? GROUP BY project",
            )
            .bind(org)
            .fetch_all()
            .await?;
        let mut out: Vec<PendingSlug> = slugs
            .into_iter()
            .map(|(slug, first_seen)| {
                let (event_count, last_seen) = activity
                    .iter()
                    .find(|(p, _, _)| *p == slug)
                    .map(|(_, n, t)| (*n, *t))
                    .unwrap_or((0, 0));
                PendingSlug {
                    slug,
                    event_count,
                    last_seen,
                    first_seen,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (b.last_seen.max(b.first_seen), &a.slug).cmp(&(a.last_seen.max(a.first_seen), &b.slug))
        });
        Ok(out)
    }
}

/// The top bit of `version` marks an archived row: ReplacingMergeTree keeps
/// the highest version, so an archive outranks every clock-based version —
/// a racing or clock-skewed update can never un-archive a project, before or
/// after merges.
pub const FINAL_STATE_BIT: u64 = 1 << 63;

fn version_for(status: Status, clock: u64) -> u64 {
    match status {
        Status::Archived => FINAL_STATE_BIT | clock,
        Status::Active => clock & !FINAL_STATE_BIT,
    }
}

fn default_project() -> Project {
    Project {
        slug: DEFAULT_SLUG.into(),
        canonical_name: DEFAULT_SLUG.into(),
        name: DEFAULT_NAME.into(),
        metadata: serde_json::json!({}),
        status: Status::Active,
        settings: Settings::default(),
        created_at: 0,
        updated_at: 0,
    }
}

fn now_secs() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_invariants_from_collieai_projects() {
        assert!(Settings::default().check().is_ok());
        let s = |rpm, hours, days| Settings {
            rate_limit_rpm: rpm,
            body_retention_hours: hours,
            log_retention_days: days,
        };
        assert!(s(Some(60), 48, 90).check().is_ok());
        assert!(
            s(Some(0), 48, 90).check().is_err(),
            "rate_limit_rpm must be null or > 0"
        );
        assert!(s(None, 24, 1).check().is_ok(), "24 ≤ 1 × 24");
        assert!(
            s(None, 25, 1).check().is_err(),
            "body_retention_hours ≤ log_retention_days × 24"
        );
        assert!(s(None, 0, 0).check().is_err());
    }
}
