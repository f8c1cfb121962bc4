//! What a project is: its status, settings and their invariants
//! (docs/CONTRACT.md §C17, §C18), the shapes the admin API answers with,
//! and the registry's errors.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Display name of the `default` project until renamed.
pub const DEFAULT_NAME: &str = "Production";

/// A project's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepts data and reads.
    Active,
    /// Refuses data (403) and reads; its slug is never reused.
    Archived,
}

impl Status {
    pub(super) fn parse(s: &str) -> Status {
        if s == "archived" {
            Status::Archived
        } else {
            Status::Active
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }
}

/// Most origins one project may list in `allowed_origins`.
pub const MAX_ALLOWED_ORIGINS: usize = 64;

/// How long a project's data lives (docs/CONTRACT.md §C17, §C24): the edge
/// stamps each row with the expiries these give when it receives the row,
/// so a later change of the settings applies to new rows only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `body_retention_hours`.
    pub body_hours: u32,
    /// `log_retention_days`.
    pub log_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention::DEFAULT
    }
}

impl Retention {
    /// A new project's: 48 hours for bodies, 90 days for the rest.
    pub const DEFAULT: Retention = Retention {
        body_hours: 48,
        log_days: 90,
    };

    /// When the bodies of a row received at `received_secs` are emptied
    /// (seconds; `DateTime`'s range ends in 2106, and so does this).
    #[inline]
    pub fn body_expires_at(self, received_secs: u32) -> u32 {
        add_secs(received_secs, u64::from(self.body_hours) * 3600)
    }

    /// When a row received at `received_secs` is deleted.
    #[inline]
    pub fn expires_at(self, received_secs: u32) -> u32 {
        add_secs(received_secs, u64::from(self.log_days) * 86_400)
    }
}

fn add_secs(at: u32, secs: u64) -> u32 {
    u32::try_from(u64::from(at) + secs).unwrap_or(u32::MAX)
}

/// Per-project settings (docs/CONTRACT.md §C16, §C17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Requests per minute; `null` is unlimited.
    pub rate_limit_rpm: Option<u32>,
    /// Hours AI inputs and outputs, attachments and span payloads are kept
    /// before they are emptied (default 48; docs/CONTRACT.md §C24). A change
    /// applies to rows received after it.
    pub body_retention_hours: u32,
    /// Days the rest of a row is kept before it is deleted (default 90).
    pub log_retention_days: u32,
    /// The web origins (`https://app.example.com`) whose pages may send this
    /// project data; `null` is any origin (a browser key is public by
    /// nature). Checked against a request's `Origin` header, which only
    /// browsers send: a server-side caller is never refused by it.
    pub allowed_origins: Option<Vec<String>>,
    /// The redaction policy the edge applies before anything is stored
    /// (docs/CONTRACT.md §C23): `default` (every built-in detector) or one
    /// of the org's policies (`GET /v1/policies`).
    pub active_policy_id: String,
    /// When an AI input is a conversation (a JSON array of messages):
    /// redact every turn (`true`, the default) or only the last.
    pub filter_all_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate_limit_rpm: None,
            body_retention_hours: Retention::default().body_hours,
            log_retention_days: Retention::default().log_days,
            allowed_origins: None,
            active_policy_id: crate::registry::policies::DEFAULT_POLICY.into(),
            filter_all_messages: true,
        }
    }
}

/// `origin` as `allowed_origins` stores it (lowercase), or why it is not a
/// web origin: `http` or `https`, a host, an optional port, nothing after.
pub fn normalize_origin(origin: &str) -> Result<String, &'static str> {
    let lower = origin.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.len() > 253 + 6 {
        return Err("must name a host");
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err("must be scheme://host[:port], with no path, query or trailing slash");
    }
    Ok(lower)
}

impl Settings {
    /// The retention these settings give new rows.
    pub fn retention(&self) -> Retention {
        Retention {
            body_hours: self.body_retention_hours,
            log_days: self.log_retention_days,
        }
    }

    /// docs/CONTRACT.md §C17: `body_retention_hours ≤ log_retention_days × 24`
    /// is enforced; §C16: `rate_limit_rpm` is null or > 0.
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
        if let Some(origins) = &self.allowed_origins {
            if origins.is_empty() || origins.len() > MAX_ALLOWED_ORIGINS {
                return invalid(
                    "settings.allowed_origins",
                    "must list 1 to 64 origins, or be null for any origin",
                );
            }
            if origins
                .iter()
                .any(|o| normalize_origin(o).as_deref() != Ok(o))
            {
                return invalid(
                    "settings.allowed_origins",
                    "must hold lowercase web origins (scheme://host[:port])",
                );
            }
        }
        Ok(())
    }
}

/// Settings fields to change; `None` keeps the value. Applied under the
/// org's lock, so two concurrent PATCHes of different fields both stick.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    /// `Some(None)` clears the limit.
    pub rate_limit_rpm: Option<Option<u32>>,
    /// New body retention.
    pub body_retention_hours: Option<u32>,
    /// New log retention.
    pub log_retention_days: Option<u32>,
    /// `Some(None)`: any origin again.
    pub allowed_origins: Option<Option<Vec<String>>>,
    /// New active redaction policy (checked to exist by the caller).
    pub active_policy_id: Option<String>,
    /// New `filter_all_messages`.
    pub filter_all_messages: Option<bool>,
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
            allowed_origins: self.allowed_origins.unwrap_or(base.allowed_origins),
            active_policy_id: self.active_policy_id.unwrap_or(base.active_policy_id),
            filter_all_messages: self.filter_all_messages.unwrap_or(base.filter_all_messages),
        }
    }
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Project {
    /// Immutable slug (the `X-Raindrop-Project-Id` value).
    pub slug: String,
    /// The same slug, under the CRUD API's name for it (docs/CONTRACT.md §C18).
    pub canonical_name: String,
    /// Display name.
    pub name: String,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PendingSlug {
    /// The slug.
    pub slug: String,
    /// Events received so far.
    pub event_count: u64,
    /// Last time data arrived, seconds since the epoch (0 before the consumer saw any).
    pub last_seen: u32,
    /// When the edge first accepted it.
    pub first_seen: u32,
    /// The streams that carried its data, by table (`events`, `signals`,
    /// `spans`, ...).
    pub streams: Vec<String>,
    /// The routes of those streams (`/v1/events/track`, `/v1/traces`, ...):
    /// which endpoints sent it.
    pub endpoints: Vec<String>,
}

/// What the consumers recorded of one project's data (`project_activity`,
/// written after each flush: at least once, so a batch a crashed consumer
/// re-wrote counts twice here, never in the tables).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProjectActivity {
    /// The project's slug (created or pending).
    pub slug: String,
    /// Events written in the current hour and the 23 before it.
    pub events_24h: u64,
    /// Events written since it first sent.
    pub events_total: u64,
    /// Last time an event of it was written, seconds since the epoch (0:
    /// never).
    pub last_event: u32,
    /// Last time any of its data was written (0: never).
    pub last_seen: u32,
    /// The streams that carried its data, by table.
    pub streams: Vec<String>,
    /// The routes of those streams: which endpoints sent it.
    pub endpoints: Vec<String>,
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
    #[error("registry unavailable and nothing cached")]
    Down(#[source] Box<ProjectError>),
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
            ..Settings::default()
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

    #[test]
    fn allowed_origins_are_web_origins() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:8443").as_deref(),
            Ok("https://app.example.com:8443")
        );
        for bad in [
            "app.example.com",
            "https://",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://x",
            "https://a b",
            "*",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        let with = |origins: Option<Vec<&str>>| Settings {
            allowed_origins: origins.map(|o| o.into_iter().map(String::from).collect()),
            ..Settings::default()
        };
        assert!(with(None).check().is_ok());
        assert!(with(Some(vec!["https://a.example"])).check().is_ok());
        assert!(with(Some(vec![])).check().is_err(), "empty is not 'any'");
        assert!(with(Some(vec!["https://A.example"])).check().is_err());
    }
}
