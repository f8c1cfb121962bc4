//! The keys API. collieai-projects.md: "The full API key value is only shown
//! at creation time"; afterwards a key is listed by its prefix only.
//!
//! | route | who |
//! | `POST /v1/projects/{slug}/keys` (project-scoped write key), `GET` (list), `DELETE .../{key_id}` (revoke) | owner, admin |
//! | `POST /v1/keys` (`{"role": "write"|"owner"|"admin"|"member"}`), `GET /v1/keys`, `DELETE /v1/keys/{key_id}` | owner |
//!
//! A project-scoped key writes only to its project. Revocation takes effect
//! at each edge when its cached copy expires (`edge.key_cache_ttl_ms`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};

use super::auth::{self, MANAGE, OWNER};
use super::projects::AdminState;
use crate::edge::error::ApiError;
use crate::registry::keys::{KeyStoreError, NewKey, Principal, Role};
use crate::registry::projects::Status;
use crate::registry::slug::Slug;

type Shared = State<Arc<AdminState>>;

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

impl From<KeyStoreError> for ApiError {
    fn from(_: KeyStoreError) -> ApiError {
        ApiError::unavailable("key store unavailable, retry shortly")
    }
}

/// Key management: the role check, and never with a project-scoped key.
async fn authorize(
    state: &AdminState,
    headers: &HeaderMap,
    allowed: &[Role],
) -> Result<Principal, ApiError> {
    let principal = auth::authorize(&state.keys, headers, allowed).await?;
    if principal.project.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "a project-scoped key may not manage keys",
        ));
    }
    Ok(principal)
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn created(key: &NewKey) -> Response {
    json(
        StatusCode::CREATED,
        serde_json::json!({
            "id": key.principal.key_id,
            "key": key.secret,
            "prefix": format!("dp_{}_…", key.principal.key_id),
            "project": key.principal.project.as_ref().map(Slug::as_str),
            "role": key.principal.role.as_str(),
            "note": "the full key is shown only now; store it securely",
        }),
    )
}

async fn active_project(state: &AdminState, org: &str, raw: &str) -> Result<Slug, ApiError> {
    let slug =
        Slug::from_header(Some(raw)).map_err(|e| ApiError::bad_request("slug", &e.to_string()))?;
    match state.projects.get(org, &slug).await? {
        Some(p) if p.status == Status::Active => Ok(slug),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("project {slug} is archived"),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("project {slug} not found"),
        )),
    }
}

async fn create_project(
    State(state): Shared,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let result = async {
        let who = authorize(&state, &headers, MANAGE).await?;
        let slug = active_project(&state, &who.org, &slug).await?;
        let key = state
            .keys
            .create(&who.org, Some(&slug), Role::Write)
            .await?;
        Ok::<_, ApiError>(created(&key))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn list_project(
    State(state): Shared,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let result = async {
        let who = authorize(&state, &headers, MANAGE).await?;
        let slug = Slug::from_header(Some(&slug))
            .map_err(|e| ApiError::bad_request("slug", &e.to_string()))?;
        let keys = state.keys.list(&who.org, Some(&slug)).await?;
        Ok::<_, ApiError>(json(StatusCode::OK, serde_json::json!({ "keys": keys })))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn revoke_project(
    State(state): Shared,
    headers: HeaderMap,
    Path((slug, key_id)): Path<(String, String)>,
) -> Response {
    let result = async {
        let who = authorize(&state, &headers, MANAGE).await?;
        let slug = Slug::from_header(Some(&slug))
            .map_err(|e| ApiError::bad_request("slug", &e.to_string()))?;
        revoked(
            state.keys.revoke(&who.org, Some(&slug), &key_id).await?,
            &key_id,
        )
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn create_org(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let who = authorize(&state, &headers, OWNER).await?;
        let body: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("body", &format!("is not valid JSON ({e})")))?;
        let role = body
            .get("role")
            .and_then(|r| r.as_str())
            .and_then(Role::parse)
            .ok_or_else(|| {
                ApiError::bad_request("role", "must be write, owner, admin or member")
            })?;
        let key = state.keys.create(&who.org, None, role).await?;
        Ok::<_, ApiError>(created(&key))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn list_org(State(state): Shared, headers: HeaderMap) -> Response {
    let result = async {
        let who = authorize(&state, &headers, OWNER).await?;
        let keys = state.keys.list(&who.org, None).await?;
        Ok::<_, ApiError>(json(StatusCode::OK, serde_json::json!({ "keys": keys })))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn revoke_org(
    State(state): Shared,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Response {
    let result = async {
        let who = authorize(&state, &headers, OWNER).await?;
        revoked(state.keys.revoke(&who.org, None, &key_id).await?, &key_id)
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

fn revoked(found: bool, key_id: &str) -> Result<Response, ApiError> {
    if found {
        Ok(json(
            StatusCode::OK,
            serde_json::json!({ "id": key_id, "revoked": true }),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("key {key_id} not found"),
        ))
    }
}
