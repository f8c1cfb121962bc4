//! What a signed-in caller may know about itself and its org, for the
//! dashboard (`control::dashboard`) and any other admin client:
//!
//! | route | who |
//! | `GET /v1/me`: the key's org, role and project scope | owner, admin, member |
//! | `GET /v1/org/activity`: per project, events in the last 24 h, last event, endpoints | owner, admin, member |
//! | `GET /v1/projects/{slug}/ingest?interval=minute\|day`: events written per minute over the last hour, per day over 30 days | owner, admin, member |
//!
//! Invariants: the key is never echoed (only its public id); a
//! project-scoped key sees its own project's activity only. Activity is
//! what the consumers record after each flush (`project_activity`), so it
//! counts what is written (when it is written, not the events' own
//! timestamps), seconds behind ingest, and at least once.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::{AdminState, confine, document_errors, slug_param};
use crate::http::ApiError;
use crate::http::auth::{Caller, Read};
use crate::registry::projects::{IngestInterval, ProjectActivity};

type Shared = State<Arc<AdminState>>;

/// The routes, documented.
pub fn router(state: Arc<AdminState>) -> OpenApiRouter {
    let mut router = OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(org_activity))
        .routes(routes!(project_ingest))
        .with_state(state);
    document_errors(router.get_openapi_mut(), ERRORS);
    router
}

/// 401 (no or a bad key), 403 (a write key; a project-scoped key asking
/// for another project), 429 (too many unknown keys from one address), 503
/// (the key store or the registry is down); 400 for a malformed slug or
/// `interval`.
const ERRORS: &[(&str, &[u16])] = &[
    ("me", &[401, 403, 429, 503]),
    ("org_activity", &[401, 403, 429, 503]),
    ("project_ingest", &[400, 401, 403, 429, 503]),
];

/// The caller, as its key makes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The org the key belongs to.
    pub org: String,
    /// `owner`, `admin` or `member`.
    pub role: &'static str,
    /// The project a project-scoped key is confined to, else null.
    pub project: Option<String>,
    /// The key's public id (never the key).
    pub key_id: String,
    /// Whether this key may change and archive projects (owner, admin; a
    /// project-scoped one its own project only, and it creates none).
    pub can_manage: bool,
    /// Whether this key may manage project keys (an org-wide owner or admin key).
    pub can_manage_keys: bool,
    /// Whether this key may manage org keys and org settings (an org-wide owner key).
    pub can_manage_org: bool,
}

/// Per project of the org that has sent data.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgActivity {
    /// By slug, created and pending projects alike.
    pub projects: Vec<ProjectActivity>,
}

#[utoipa::path(get, path = "/v1/me", tag = "admin",
    summary = "The caller: its org, role and project scope.",
    responses((status = 200, description = "The caller.", body = Me)))]
async fn me(who: Caller<Read>) -> Json<Me> {
    use crate::registry::keys::Role;
    let role = who.principal.role;
    let scoped = who.scoped_to().is_some();
    Json(Me {
        org: who.org().to_string(),
        role: role.as_str(),
        project: who.scoped_to().map(|s| s.to_string()),
        key_id: who.principal.key_id.clone(),
        can_manage: matches!(role, Role::Owner | Role::Admin),
        can_manage_keys: matches!(role, Role::Owner | Role::Admin) && !scoped,
        can_manage_org: role == Role::Owner && !scoped,
    })
}

#[utoipa::path(get, path = "/v1/org/activity", tag = "admin",
    summary = "Per project: events in the last 24 hours and in all, last seen, and the streams that sent data.",
    responses((status = 200, description = "The activity.", body = OrgActivity)))]
async fn org_activity(
    State(state): Shared,
    who: Caller<Read>,
) -> Result<Json<OrgActivity>, ApiError> {
    let mut projects = state.projects.activity(who.org()).await?;
    if let Some(scoped) = who.scoped_to() {
        projects.retain(|p| p.slug == scoped.as_str());
    }
    for p in &mut projects {
        p.endpoints = state.endpoints_of(&p.streams);
    }
    Ok(Json(OrgActivity { projects }))
}

/// Events of one project written over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ingest {
    /// `minute` (the last hour) or `day` (the last 30 days).
    pub interval: &'static str,
    /// Oldest first, every bucket present (empty ones count 0).
    pub buckets: Vec<IngestBucket>,
    /// The buckets' sum.
    pub total: u64,
}

/// One bucket of [`Ingest`].
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestBucket {
    /// Its start, ISO 8601 UTC.
    pub timestamp: String,
    /// Events written in it.
    pub count: u64,
}

#[utoipa::path(get, path = "/v1/projects/{slug}/ingest", tag = "admin",
    summary = "Events of the project written per minute over the last hour, or per day over the last 30 days.",
    params(("slug" = String, Path, description = "The project's slug."),
           ("interval" = Option<String>, Query, description = "`minute` (default: 61 buckets, the current minute and the hour before) or `day` (30 buckets)")),
    responses((status = 200, description = "The buckets.", body = Ingest)))]
async fn project_ingest(
    State(state): Shared,
    who: Caller<Read>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Ingest>, ApiError> {
    let slug = slug_param(&slug)?;
    confine(&who, &slug)?;
    let interval = interval_param(query.as_deref().unwrap_or_default())?;
    let counts = state
        .projects
        .ingest(who.org(), slug.as_str(), interval)
        .await?;
    let total = counts.iter().map(|(_, n)| n).sum();
    let buckets = counts
        .into_iter()
        .map(|(at, count)| IngestBucket {
            timestamp: chrono::DateTime::from_timestamp(i64::from(at), 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            count,
        })
        .collect();
    Ok(Json(Ingest {
        interval: match interval {
            IngestInterval::Minute => "minute",
            IngestInterval::Day => "day",
        },
        buckets,
        total,
    }))
}

/// `interval=minute|day` from a query string (absent: minute); anything
/// else, or another parameter, is a 400 naming it.
fn interval_param(query: &str) -> Result<IngestInterval, ApiError> {
    let mut interval = IngestInterval::Minute;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("interval", "minute") => interval = IngestInterval::Minute,
            ("interval", "day") => interval = IngestInterval::Day,
            ("interval", _) => {
                return Err(ApiError::bad_request("interval", "must be minute or day"));
            }
            (name, _) => {
                let name: String = name.chars().take(64).collect();
                return Err(ApiError::bad_request(
                    &name,
                    "unknown parameter (takes interval)",
                ));
            }
        }
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_is_served_as_documented() {
        crate::http::served::assert_served_as_documented(
            router(crate::control::projects::tests::state()),
            &[
                ("/v1/me", &["GET"]),
                ("/v1/org/activity", &["GET"]),
                ("/v1/projects/{slug}/ingest", &["GET"]),
            ],
        )
        .await;
    }

    #[test]
    fn the_interval_is_minute_or_day_and_nothing_else_is_taken() {
        assert_eq!(interval_param("").ok(), Some(IngestInterval::Minute));
        assert_eq!(
            interval_param("interval=day").ok(),
            Some(IngestInterval::Day)
        );
        assert_eq!(
            interval_param("interval=minute").ok(),
            Some(IngestInterval::Minute)
        );
        for (query, param) in [
            ("interval=hour", "interval"),
            ("interval", "interval"),
            ("since=1", "since"),
        ] {
            let e = interval_param(query).expect_err(query);
            assert_eq!(e.param.as_deref(), Some(param), "{query}");
            assert_eq!(e.status.as_u16(), 400);
        }
    }
}
