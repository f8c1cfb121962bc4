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

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::auth::{Authenticates, Caller, Manage, OwnerOnly, Read, Roles};
use crate::registry::admission::Admission;
use crate::registry::keys::KeyStore;
use crate::registry::projects::{
    Changes, DEFAULT_NAME, Project, ProjectError, ProjectStore, normalize_origin,
};
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
type Answer<T = Value> = Result<Json<T>, ApiError>;

/// The admin routes.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/v1/projects", get(list).post(create))
        .route("/v1/projects/pending", get(pending))
        .route(
            "/v1/projects/{slug}",
            get(show).patch(patch).put(replace).delete(archive),
        )
        .route("/v1/projects/{slug}/archive", post(archive))
        .route("/v1/org/settings", put(org_settings))
        .with_state(state)
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

async fn list(State(state): Shared, who: Caller<Read>) -> Answer {
    let mut projects = state.projects.list(who.org()).await?;
    if let Some(scoped) = who.scoped_to() {
        projects.retain(|p| p.slug == scoped.as_str());
    }
    Ok(Json(json!({ "projects": projects })))
}

async fn show(
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

async fn pending(State(state): Shared, who: Caller<Read>) -> Answer {
    org_wide(&who)?;
    let pending = state.projects.pending(who.org()).await?;
    let limit = state.projects.pending_limit(who.org()).await?;
    let remaining = limit.saturating_sub(u32::try_from(pending.len()).unwrap_or(u32::MAX));
    Ok(Json(
        json!({ "pending": pending, "limit": limit, "remaining": remaining }),
    ))
}

async fn create(
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

async fn patch(
    state: Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Answer<Project> {
    update(state, who, slug, body, false).await
}

async fn replace(
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

async fn org_settings(State(state): Shared, who: Caller<OwnerOnly>, body: Bytes) -> Answer {
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
    Ok(Json(json!({ "pending_limit": limit })))
}

/// The body as a JSON object (400 otherwise).
pub(super) fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("body", "must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(
            "body",
            &format!("is not valid JSON ({e})"),
        )),
    }
}

/// Reads name, metadata and settings. Settings may be nested under
/// `settings` or given flat (`{"rate_limit_rpm": 60}`, docs/CONTRACT.md
/// §C18); fields not given are left out of the patch.
fn changes_from(body: &serde_json::Map<String, serde_json::Value>) -> Result<Changes, ApiError> {
    let mut changes = Changes::default();
    if let Some(v) = body.get("name") {
        let name = v
            .as_str()
            .ok_or_else(|| ApiError::bad_request("name", "must be a string"))?;
        if name.trim().is_empty() || name.len() > 256 {
            return Err(ApiError::bad_request("name", "must be 1 to 256 characters"));
        }
        changes.name = Some(name.to_string());
    }
    if let Some(v) = body.get("metadata") {
        if !v.is_object() {
            return Err(ApiError::bad_request("metadata", "must be an object"));
        }
        changes.metadata = Some(v.clone());
    }
    let nested = match body.get("settings") {
        None => None,
        Some(serde_json::Value::Object(map)) => Some(map),
        Some(_) => return Err(ApiError::bad_request("settings", "must be an object")),
    };
    let field = |name: &str| nested.and_then(|m| m.get(name)).or_else(|| body.get(name));
    let invalid = |name: &str, why: &str| ApiError::bad_request(&format!("settings.{name}"), why);
    if let Some(v) = field("rate_limit_rpm") {
        changes.settings.rate_limit_rpm =
            Some(match v {
                serde_json::Value::Null => None,
                v => Some(positive_u32(v).ok_or_else(|| {
                    invalid("rate_limit_rpm", "must be null or a positive integer")
                })?),
            });
    }
    if let Some(v) = field("body_retention_hours") {
        let hours = positive_u32(v)
            .ok_or_else(|| invalid("body_retention_hours", "must be a positive integer"))?;
        changes.settings.body_retention_hours = Some(hours);
    }
    if let Some(v) = field("log_retention_days") {
        let days = positive_u32(v)
            .ok_or_else(|| invalid("log_retention_days", "must be a positive integer"))?;
        changes.settings.log_retention_days = Some(days);
    }
    if let Some(v) = field("allowed_origins") {
        changes.settings.allowed_origins = Some(allowed_origins(v)?);
    }
    Ok(changes)
}

/// `null` (any origin) or a list of web origins, normalized to lowercase.
fn allowed_origins(v: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let Some(items) = v.as_array() else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(ApiError::bad_request(
                "settings.allowed_origins",
                "must be null (any origin) or an array of origins",
            )),
        };
    };
    let mut origins = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("settings.allowed_origins[{i}]");
        let origin = item
            .as_str()
            .ok_or_else(|| ApiError::bad_request(&field, "must be a string"))?;
        let origin = normalize_origin(origin).map_err(|why| ApiError::bad_request(&field, why))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(Some(origins))
}

fn positive_u32(v: &serde_json::Value) -> Option<u32> {
    v.as_u64()
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
}
