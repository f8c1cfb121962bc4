//! What a signed-in caller may know about itself and its org, for the
//! dashboard (`control::dashboard`) and any other admin client:
//!
//! | route | who |
//! | `GET /v1/me`: the key's org, role and project scope | owner, admin, member |
//! | `GET /v1/org/activity`: per project, events in the last 24 h, last seen, streams | owner, admin, member |
//!
//! Invariants: the key is never echoed (only its public id); a
//! project-scoped key sees its own project's activity only. Activity is
//! what the consumers record after each flush (`project_activity`), so it
//! counts what is written, seconds behind ingest, and at least once.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::{AdminState, document_errors};
use crate::http::ApiError;
use crate::http::auth::{Caller, Read};
use crate::registry::projects::ProjectActivity;

type Shared = State<Arc<AdminState>>;

/// The routes, documented.
pub fn router(state: Arc<AdminState>) -> OpenApiRouter {
    let mut router = OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(org_activity))
        .with_state(state);
    document_errors(router.get_openapi_mut(), ERRORS);
    router
}

/// 401 (no or a bad key), 403 (a write key), 429 (too many unknown keys
/// from one address), 503 (the key store or the registry is down).
const ERRORS: &[(&str, &[u16])] = &[
    ("me", &[401, 403, 429, 503]),
    ("org_activity", &[401, 403, 429, 503]),
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
    /// Whether this key may create, change and archive projects and manage
    /// project keys (owner, admin).
    pub can_manage: bool,
    /// Whether this key may manage org keys and org settings (owner).
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
    Ok(Json(OrgActivity { projects }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_is_served_as_documented() {
        crate::http::served::assert_served_as_documented(
            router(crate::control::projects::tests::state()),
            &[("/v1/me", &["GET"]), ("/v1/org/activity", &["GET"])],
        )
        .await;
    }
}
