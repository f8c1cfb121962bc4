//! The projects registry in ClickHouse: create, read, update, archive
//! (here), the pending slugs and each org's pending limit (`pending`), and
//! what a project is (`model`).
//!
//! ClickHouse is the source of truth so users run no extra server. Writes are
//! synchronous INSERTs and reads use `FINAL`, so the admin API reads its own
//! writes at once. Where the sources disagree, Raindrop's rules win
//! (docs/CONTRACT.md §C1): there is no hard delete, archived slugs are never
//! reused (§C7), and `default` ("Production") always exists and cannot be
//! archived (§C5).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use serde::Deserialize;

use super::slug::{DEFAULT_SLUG, Slug};

mod activity;
mod model;
mod pending;

pub use activity::IngestInterval;
pub use model::{
    Changes, DEFAULT_NAME, MAX_ALLOWED_ORIGINS, PendingSlug, Project, ProjectActivity,
    ProjectError, Retention, Settings, SettingsPatch, Status, normalize_origin,
};

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
    /// Empty: any origin.
    allowed_origins: Vec<String>,
    active_policy_id: String,
    filter_all_messages: u8,
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
                allowed_origins: (!self.allowed_origins.is_empty()).then_some(self.allowed_origins),
                active_policy_id: if self.active_policy_id.is_empty() {
                    crate::registry::policies::DEFAULT_POLICY.into()
                } else {
                    self.active_policy_id
                },
                filter_all_messages: self.filter_all_messages != 0,
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
         toUInt32(max(updated_at)) AS p_updated, argMax(allowed_origins, version) AS p_origins, \
         argMax(active_policy_id, version) AS p_policy, argMax(filter_all_messages, version) AS p_all \
         FROM projects WHERE {condition} GROUP BY slug ORDER BY slug"
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
            project.settings.clone()
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
                 log_retention_days, created_at, updated_at, version, allowed_origins, active_policy_id, \
                 filter_all_messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            .bind(p.settings.allowed_origins.as_deref().unwrap_or_default())
            .bind(&p.settings.active_policy_id)
            .bind(u8::from(p.settings.filter_all_messages))
            .execute()
            .await?;
        Ok(())
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
