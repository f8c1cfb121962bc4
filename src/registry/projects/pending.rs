//! Pending slugs (docs/CONTRACT.md §C6): slugs that received data but were
//! never created, counted per org against its pending limit, with the
//! activity the consumers recorded for them (`activity.rs`).

use super::{PendingSlug, ProjectError, ProjectStore, now_secs};
use crate::registry::slug::Slug;

impl ProjectStore {
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
    /// count, first and last seen and the streams that sent it, newest
    /// first (docs/CONTRACT.md §C6).
    pub async fn pending(&self, org: &str) -> Result<Vec<PendingSlug>, ProjectError> {
        let slugs = self.pending_slugs(org).await?;
        let activity = self.activity(org).await?;
        let mut out: Vec<PendingSlug> = slugs
            .into_iter()
            .map(|(slug, first_seen)| {
                let seen = activity.iter().find(|a| a.slug == slug);
                PendingSlug {
                    event_count: seen.map_or(0, |a| a.events_total),
                    last_seen: seen.map_or(0, |a| a.last_seen),
                    streams: seen.map(|a| a.streams.clone()).unwrap_or_default(),
                    endpoints: Vec::new(),
                    slug,
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
