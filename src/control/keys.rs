//! The keys API (docs/CONTRACT.md §C15): the full key is shown only when it
//! is created; afterwards a key is listed by its prefix only.
//!
//! | route | who |
//! | `POST /v1/projects/{slug}/keys` (project-scoped write key), `GET` (list), `DELETE .../{key_id}` (revoke) | owner, admin |
//! | `POST /v1/keys` (`{"role": "write"|"owner"|"admin"|"member"}`), `GET /v1/keys`, `DELETE /v1/keys/{key_id}` | owner |
//!
//! A project-scoped key writes only to its project. Revocation takes effect
//! at each edge when its cached copy expires (`edge.key_cache_ttl_ms`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::projects::{AdminState, slug_param};
use crate::http::ApiError;
use crate::http::auth::{Caller, Manage, OwnerOnly, Roles};
use crate::registry::keys::{NewKey, Role};
use crate::registry::projects::Status;
use crate::registry::slug::Slug;

type Shared = State<Arc<AdminState>>;
type Created = Result<(StatusCode, Json<Value>), ApiError>;

/// The keys routes.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/v1/keys", get(list_org).post(create_org))
        .route("/v1/keys/{key_id}", delete(revoke_org))
        .route(
            "/v1/projects/{slug}/keys",
            get(list_project).post(create_project),
        )
        .route("/v1/projects/{slug}/keys/{key_id}", delete(revoke_project))
        .with_state(state)
}

/// Keys are never managed with a project-scoped key.
fn org_key<R: Roles>(caller: &Caller<R>) -> Result<(), ApiError> {
    if caller.scoped_to().is_some() {
        return Err(ApiError::forbidden(
            "a project-scoped key may not manage keys",
        ));
    }
    Ok(())
}

fn created(key: &NewKey) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({
            "id": key.principal.key_id,
            "key": key.secret,
            "prefix": format!("dp_{}_…", key.principal.key_id),
            "project": key.principal.project.as_ref().map(Slug::as_str),
            "role": key.principal.role.as_str(),
            "note": "the full key is shown only now; store it securely",
        })),
    )
}

async fn active_project(state: &AdminState, org: &str, raw: &str) -> Result<Slug, ApiError> {
    let slug = slug_param(raw)?;
    match state.projects.get(org, &slug).await? {
        Some(p) if p.status == Status::Active => Ok(slug),
        Some(_) => Err(ApiError::conflict(format!("project {slug} is archived"))),
        None => Err(ApiError::not_found(format!("project {slug} not found"))),
    }
}

async fn create_project(
    State(state): Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
) -> Created {
    org_key(&who)?;
    let slug = active_project(&state, who.org(), &slug).await?;
    let key = state
        .keys
        .create(who.org(), Some(&slug), Role::Write)
        .await?;
    Ok(created(&key))
}

async fn list_project(
    State(state): Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    org_key(&who)?;
    let slug = slug_param(&slug)?;
    let keys = state.keys.list(who.org(), Some(&slug)).await?;
    Ok(Json(json!({ "keys": keys })))
}

async fn revoke_project(
    State(state): Shared,
    who: Caller<Manage>,
    Path((slug, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    org_key(&who)?;
    let slug = slug_param(&slug)?;
    revoked(
        state.keys.revoke(who.org(), Some(&slug), &key_id).await?,
        &key_id,
    )
}

async fn create_org(State(state): Shared, who: Caller<OwnerOnly>, body: Bytes) -> Created {
    org_key(&who)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("body", &format!("is not valid JSON ({e})")))?;
    let role = body
        .get("role")
        .and_then(|r| r.as_str())
        .and_then(Role::parse)
        .ok_or_else(|| ApiError::bad_request("role", "must be write, owner, admin or member"))?;
    let key = state.keys.create(who.org(), None, role).await?;
    Ok(created(&key))
}

async fn list_org(State(state): Shared, who: Caller<OwnerOnly>) -> Result<Json<Value>, ApiError> {
    org_key(&who)?;
    let keys = state.keys.list(who.org(), None).await?;
    Ok(Json(json!({ "keys": keys })))
}

async fn revoke_org(
    State(state): Shared,
    who: Caller<OwnerOnly>,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    org_key(&who)?;
    revoked(state.keys.revoke(who.org(), None, &key_id).await?, &key_id)
}

fn revoked(found: bool, key_id: &str) -> Result<Json<Value>, ApiError> {
    if found {
        Ok(Json(json!({ "id": key_id, "revoked": true })))
    } else {
        Err(ApiError::not_found(format!("key {key_id} not found")))
    }
}
