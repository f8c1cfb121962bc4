//! The projects admin API (docs/CONTRACT.md §C18, archival §C7, roles §C14):
//!
//! | route | who |
//! | `GET /v1/projects`, `GET /v1/projects/{slug}`, `GET /v1/projects/pending` | owner, admin, member |
//! | `POST /v1/projects`, `PATCH`/`PUT /v1/projects/{slug}` | owner, admin |
//! | `POST /v1/projects/{slug}/archive`, `DELETE /v1/projects/{slug}` (archives) | owner, admin |
//! | `PUT /v1/org/settings` (`pending_limit`) | owner |
//!
//! Only Owner and Admin create, rename and archive projects; Members send
//! data and view existing projects (§C14). SDK write keys are not admin
//! credentials: 403.
//!
//! Every route is in the OpenAPI document: its handler's
//! `#[utoipa::path]`, registered by `routes!` (so a route is served only as
//! documented), its answer types, and its error statuses (`ERRORS`).
//! Request bodies are parsed by hand (`body`), which stays authoritative
//! over the body types the document shows.

mod body;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use body::{CreateProject, OrgSettings, ProjectChanges, SettingsChanges};
use body::{changes_from, parse_object};

use crate::http::ApiError;
use crate::http::auth::{Authenticates, Caller, Manage, OwnerOnly, Read, Roles};
use crate::http::openapi;
use crate::registry::admission::Admission;
use crate::registry::keys::KeyStore;
use crate::registry::policies::{DEFAULT_POLICY, PolicyStore};
use crate::registry::projects::{DEFAULT_NAME, PendingSlug, Project, ProjectError, ProjectStore};
use crate::registry::slug::Slug;

/// What the admin handlers share.
pub struct AdminState {
    /// Authentication.
    pub keys: KeyStore,
    /// The registry.
    pub projects: ProjectStore,
    /// The edge's cached view, invalidated after changes made here.
    pub admission: Admission,
    /// The operator's ceilings on what an org may ask for.
    pub ceilings: Ceilings,
    /// Redaction policies (a project's `active_policy_id` must name one).
    pub policies: PolicyStore,
    /// Each stream's route by its table (`spans` → `/v1/traces`), from the
    /// pipelines: which endpoints sent a project's data.
    pub endpoints: BTreeMap<String, String>,
}

impl AdminState {
    /// The routes of `streams` (tables), in their order; a table no
    /// pipeline writes any more is shown by its name.
    pub fn endpoints_of(&self, streams: &[String]) -> Vec<String> {
        streams
            .iter()
            .map(|s| self.endpoints.get(s).cloned().unwrap_or_else(|| s.clone()))
            .collect()
    }
}

/// Operator-set maxima (`registry.max_pending_limit`,
/// `registry.max_projects_per_org`): every project and pending slug is a
/// partition, so an org's own settings are bounded by the operator's.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    /// The highest `pending_limit` an org may set.
    pub max_pending_limit: u32,
    /// The most projects an org may create (`default` not counted; racing
    /// creates on N edges may pass it by N − 1).
    pub max_projects: u32,
}

impl Authenticates for AdminState {
    fn key_store(&self) -> &KeyStore {
        &self.keys
    }
}

type Shared = State<Arc<AdminState>>;
type Answer<T> = Result<Json<T>, ApiError>;

/// The admin routes, documented.
pub fn router(state: Arc<AdminState>) -> OpenApiRouter {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(pending_slugs))
        .routes(routes!(
            get_project,
            patch_project,
            replace_project,
            delete_project
        ))
        .routes(routes!(archive_project))
        .routes(routes!(put_org_settings))
        .with_state(state);
    document_errors(router.get_openapi_mut(), ERRORS);
    router
}

/// The error statuses each operation (by id: its handler's name) can
/// answer. Every route authenticates: 401 (no or a bad key), 403 (a role
/// not allowed, or a project-scoped key outside its project), 429 (too many
/// unknown keys from one address), 503 (the key store or the registry is
/// down). Then 400 for a malformed `{slug}` or body, 404 for an unknown
/// project, 409 for one whose state forbids it (archived, `default`, a
/// taken slug), 413 for a body over axum's 2 MB limit.
const ERRORS: &[(&str, &[u16])] = &[
    ("list_projects", &[401, 403, 429, 503]),
    ("create_project", &[400, 401, 403, 409, 413, 429, 503]),
    ("pending_slugs", &[401, 403, 429, 503]),
    ("get_project", &[400, 401, 403, 404, 429, 503]),
    ("patch_project", &[400, 401, 403, 404, 409, 413, 429, 503]),
    ("replace_project", &[400, 401, 403, 404, 409, 413, 429, 503]),
    ("delete_project", &[400, 401, 403, 404, 409, 429, 503]),
    ("archive_project", &[400, 401, 403, 404, 409, 429, 503]),
    ("put_org_settings", &[400, 401, 403, 413, 429, 503]),
];

/// Adds to each operation of `doc` the error answers `table` gives for its
/// operation id (shared with the keys API).
pub(super) fn document_errors(doc: &mut utoipa::openapi::OpenApi, table: &[(&str, &[u16])]) {
    for item in doc.paths.paths.values_mut() {
        for op in openapi::operations(item) {
            let id = op.operation_id.as_deref().unwrap_or_default();
            if let Some((_, statuses)) = table.iter().find(|(name, _)| *name == id) {
                openapi::api_errors(op, statuses);
            }
        }
    }
}

/// A `{slug}` path segment; a malformed one is a 400.
pub(super) fn slug_param(raw: &str) -> Result<Slug, ApiError> {
    Slug::from_header(Some(raw)).map_err(|e| ApiError::bad_request("slug", &e.to_string()))
}

/// A project-scoped key acts on its own project only (403 for any other).
pub(super) fn confine<R: Roles>(caller: &Caller<R>, slug: &Slug) -> Result<(), ApiError> {
    match caller.scoped_to() {
        Some(scoped) if scoped != slug => Err(ApiError::forbidden(format!(
            "this key is scoped to project {scoped}"
        ))
        .with_param("Authorization")),
        _ => Ok(()),
    }
}

/// Org-wide actions (creating projects, org settings, the pending list) are
/// not for a project-scoped key.
pub(super) fn org_wide<R: Roles>(caller: &Caller<R>) -> Result<(), ApiError> {
    match caller.scoped_to() {
        Some(scoped) => Err(ApiError::forbidden(format!(
            "this key is scoped to project {scoped}; org-wide actions need an org key"
        ))
        .with_param("Authorization")),
        None => Ok(()),
    }
}

/// The org's projects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    /// `default` first, then by slug (a project-scoped key: its project only).
    pub projects: Vec<Project>,
}

// Fields in alphabetical order, as the answer always had them (`json!`).
/// The pending slugs: data received, no project yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingList {
    /// The org's pending limit.
    pub limit: u32,
    /// The pending slugs, newest first.
    pub pending: Vec<PendingSlug>,
    /// How many more new slugs the org may send data to.
    pub remaining: u32,
}

/// The path parameter of the routes under `/v1/projects/{slug}`.
const SLUG: &str = "The project's slug.";

#[utoipa::path(get, path = "/v1/projects", tag = "admin",
    summary = "The org's projects, `default` first.",
    responses((status = 200, description = "The projects.", body = ProjectList)))]
async fn list_projects(State(state): Shared, who: Caller<Read>) -> Answer<ProjectList> {
    let mut projects = state.projects.list(who.org()).await?;
    if let Some(scoped) = who.scoped_to() {
        projects.retain(|p| p.slug == scoped.as_str());
    }
    Ok(Json(ProjectList { projects }))
}

#[utoipa::path(get, path = "/v1/projects/{slug}", tag = "admin",
    summary = "One project.",
    params(("slug" = String, Path, description = SLUG)),
    responses((status = 200, description = "The project.", body = Project)))]
async fn get_project(
    State(state): Shared,
    who: Caller<Read>,
    Path(slug): Path<String>,
) -> Answer<Project> {
    let slug = slug_param(&slug)?;
    confine(&who, &slug)?;
    let project = state
        .projects
        .get(who.org(), &slug)
        .await?
        .ok_or(ProjectError::NotFound(slug.to_string()))?;
    Ok(Json(project))
}

#[utoipa::path(get, path = "/v1/projects/pending", tag = "admin",
    summary = "Slugs that received data but have no project yet, and the org's pending limit.",
    responses((status = 200, description = "The pending slugs.", body = PendingList)))]
async fn pending_slugs(State(state): Shared, who: Caller<Read>) -> Answer<PendingList> {
    org_wide(&who)?;
    let mut pending = state.projects.pending(who.org()).await?;
    for slug in &mut pending {
        slug.endpoints = state.endpoints_of(&slug.streams);
    }
    let limit = state.projects.pending_limit(who.org()).await?;
    let remaining = limit.saturating_sub(u32::try_from(pending.len()).unwrap_or(u32::MAX));
    Ok(Json(PendingList {
        limit,
        pending,
        remaining,
    }))
}

#[utoipa::path(post, path = "/v1/projects", tag = "admin",
    summary = "Creates a project (adopting a pending slug's data).",
    request_body = CreateProject,
    responses((status = 201, description = "Created.", body = Project)))]
async fn create_project(
    State(state): Shared,
    who: Caller<Manage>,
    body: Bytes,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    org_wide(&who)?;
    let body = parse_object(&body)?;
    let raw_slug = body
        .get("slug")
        .or_else(|| body.get("canonical_name"))
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::bad_request("slug", "required"))?;
    let slug = Slug::parse(raw_slug).map_err(|e| ApiError::bad_request("slug", &e.to_string()))?;
    let changes = changes_from(&body)?;
    known_policy(&state, who.org(), &changes).await?;
    let existing = state.projects.list(who.org()).await?;
    let created = existing.iter().filter(|p| p.slug != "default").count();
    if created >= state.ceilings.max_projects as usize {
        return Err(ApiError::forbidden(format!(
            "the org has {created} projects, the most this server allows ({})",
            state.ceilings.max_projects
        )));
    }
    let project = state
        .projects
        .create(who.org(), &slug, changes.name.clone(), changes)
        .await?;
    state.admission.invalidate(who.org()).await;
    Ok((StatusCode::CREATED, Json(project)))
}

#[utoipa::path(patch, path = "/v1/projects/{slug}", tag = "admin",
    summary = "Changes the fields given.",
    params(("slug" = String, Path, description = SLUG)),
    request_body = ProjectChanges,
    responses((status = 200, description = "The project as changed.", body = Project)))]
async fn patch_project(
    state: Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Answer<Project> {
    update(state, who, slug, body, false).await
}

#[utoipa::path(put, path = "/v1/projects/{slug}", tag = "admin",
    summary = "Replaces every mutable field: those not given return to their defaults.",
    params(("slug" = String, Path, description = SLUG)),
    request_body = ProjectChanges,
    responses((status = 200, description = "The project as replaced.", body = Project)))]
async fn replace_project(
    state: Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Answer<Project> {
    update(state, who, slug, body, true).await
}

/// PATCH changes the fields given; PUT replaces every mutable field
/// (absent ones return to their defaults). The slug never changes.
async fn update(
    State(state): Shared,
    who: Caller<Manage>,
    slug: String,
    body: Bytes,
    full: bool,
) -> Answer<Project> {
    let slug = slug_param(&slug)?;
    confine(&who, &slug)?;
    let body = parse_object(&body)?;
    for key in ["slug", "canonical_name"] {
        if let Some(v) = body.get(key)
            && v.as_str() != Some(slug.as_str())
        {
            return Err(ApiError::bad_request(key, "is immutable"));
        }
    }
    let mut changes = changes_from(&body)?;
    known_policy(&state, who.org(), &changes).await?;
    if full {
        changes.reset_settings = true;
        let default_name = if slug.is_default() {
            DEFAULT_NAME.to_string()
        } else {
            slug.to_string()
        };
        changes.name = Some(changes.name.unwrap_or(default_name));
        changes.metadata = Some(changes.metadata.unwrap_or_else(|| json!({})));
    }
    let project = state.projects.update(who.org(), &slug, changes).await?;
    state.admission.invalidate(who.org()).await;
    Ok(Json(project))
}

/// A policy a project switches to must be one of the org's (400 otherwise).
async fn known_policy(
    state: &AdminState,
    org: &str,
    changes: &crate::registry::projects::Changes,
) -> Result<(), ApiError> {
    let Some(id) = changes.settings.active_policy_id.as_deref() else {
        return Ok(());
    };
    if id == DEFAULT_POLICY {
        return Ok(());
    }
    match state.policies.get(org, id).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ApiError::bad_request(
            "settings.active_policy_id",
            &format!("no policy {id} in this org (GET /v1/policies)"),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "policies unavailable");
            Err(ApiError::unavailable(
                "redaction policies unavailable, retry shortly",
            ))
        }
    }
}

#[utoipa::path(delete, path = "/v1/projects/{slug}", tag = "admin",
    summary = "Archives the project (there is no hard delete).",
    params(("slug" = String, Path, description = SLUG)),
    responses((status = 200, description = "The archived project.", body = Project)))]
async fn delete_project(state: Shared, who: Caller<Manage>, slug: Path<String>) -> Answer<Project> {
    archive(state, who, slug).await
}

#[utoipa::path(post, path = "/v1/projects/{slug}/archive", tag = "admin",
    summary = "Archives the project: it accepts no data and its slug is never reused.",
    params(("slug" = String, Path, description = SLUG)),
    responses((status = 200, description = "The archived project.", body = Project)))]
async fn archive_project(
    state: Shared,
    who: Caller<Manage>,
    slug: Path<String>,
) -> Answer<Project> {
    archive(state, who, slug).await
}

async fn archive(
    State(state): Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
) -> Answer<Project> {
    let slug = slug_param(&slug)?;
    confine(&who, &slug)?;
    let project = state.projects.archive(who.org(), &slug).await?;
    state.admission.invalidate(who.org()).await;
    Ok(Json(project))
}

#[utoipa::path(put, path = "/v1/org/settings", tag = "admin",
    summary = "Sets the org's pending limit (owner only).",
    request_body = OrgSettings,
    responses((status = 200, description = "The org's settings.", body = OrgSettings)))]
async fn put_org_settings(
    State(state): Shared,
    who: Caller<OwnerOnly>,
    body: Bytes,
) -> Answer<OrgSettings> {
    org_wide(&who)?;
    let body = parse_object(&body)?;
    let limit = body
        .get("pending_limit")
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| ApiError::bad_request("pending_limit", "required, a positive integer"))?;
    if limit > state.ceilings.max_pending_limit {
        return Err(ApiError::bad_request(
            "pending_limit",
            &format!(
                "must be at most {} (this server's maximum)",
                state.ceilings.max_pending_limit
            ),
        ));
    }
    state.projects.set_pending_limit(who.org(), limit).await?;
    state.admission.invalidate(who.org()).await;
    Ok(Json(OrgSettings {
        pending_limit: limit,
    }))
}
