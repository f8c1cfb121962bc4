//! The keys API (docs/CONTRACT.md §C15): the full key is shown only when it
//! is created; afterwards a key is listed by its prefix only.
//!
//! | route | who |
//! | `POST /v1/projects/{slug}/keys` (project-scoped write key), `GET` (list), `DELETE .../{key_id}` (revoke) | owner, admin |
//! | `POST /v1/keys` (`{"role": "write"|"owner"|"admin"|"member"}`), `GET /v1/keys`, `DELETE /v1/keys/{key_id}` | owner |
//!
//! A project-scoped key writes only to its project. Revocation takes effect
//! at each edge when its cached copy expires (`edge.key_cache_ttl_ms`).
//!
//! Every route is in the OpenAPI document: its handler's
//! `#[utoipa::path]`, registered by `routes!`, its answer types, and its
//! error statuses (`ERRORS`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::projects::{AdminState, document_errors, slug_param};
use crate::http::ApiError;
use crate::http::auth::{Caller, Manage, OwnerOnly, Roles};
use crate::registry::keys::{KeyInfo, NewKey, Role};
use crate::registry::projects::Status;
use crate::registry::slug::Slug;

type Shared = State<Arc<AdminState>>;
type Created = Result<(StatusCode, Json<CreatedKey>), ApiError>;

/// The keys routes, documented.
pub fn router(state: Arc<AdminState>) -> OpenApiRouter {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list_org_keys, create_org_key))
        .routes(routes!(revoke_org_key))
        .routes(routes!(list_project_keys, create_project_key))
        .routes(routes!(revoke_project_key))
        .with_state(state);
    document_errors(router.get_openapi_mut(), ERRORS);
    router
}

/// The error statuses each operation (by id: its handler's name) can
/// answer: 401, 403 (a role not allowed, or a project-scoped key), 429 and
/// 503 on every route as the caller is authenticated; 400 for a malformed
/// path segment or body, 404 for an unknown project or key, 409 for an
/// archived project, 413 for a body over axum's 2 MB limit.
const ERRORS: &[(&str, &[u16])] = &[
    ("list_org_keys", &[401, 403, 429, 503]),
    ("create_org_key", &[400, 401, 403, 413, 429, 503]),
    ("revoke_org_key", &[400, 401, 403, 404, 429, 503]),
    ("list_project_keys", &[400, 401, 403, 429, 503]),
    ("create_project_key", &[400, 401, 403, 404, 409, 429, 503]),
    ("revoke_project_key", &[400, 401, 403, 404, 429, 503]),
];

// Doc-only: `create_org_key` reads the body by hand and is authoritative.
/// A new org key.
#[derive(ToSchema)]
pub struct CreateKey {
    /// The new key's role.
    pub role: KeyRole,
}

// Doc-only: `Role::parse` is authoritative.
/// A key's role.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Sends data (an SDK write key).
    Write,
    /// Everything, org keys and settings included.
    Owner,
    /// Manages projects and project keys.
    Admin,
    /// Sends data and reads.
    Member,
}

// Fields in alphabetical order, as the answer always had them (`json!`).
/// A key just created: the only answer that holds the full key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's public id.
    pub id: String,
    /// The full key, for `Authorization: Bearer`; shown only now.
    pub key: String,
    /// A reminder that the key is shown only now.
    pub note: &'static str,
    /// The key's visible start, `dp_<id>_…`, as lists show it.
    pub prefix: String,
    /// The project a project-scoped key writes to; null for an org key.
    pub project: Option<String>,
    /// `write`, `owner`, `admin` or `member`.
    pub role: &'static str,
}

/// A list of keys, newest first, never with their secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys.
    pub keys: Vec<KeyInfo>,
}

/// A key revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedKey {
    /// The key's id.
    pub id: String,
    /// Always true.
    pub revoked: bool,
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

fn created(key: &NewKey) -> (StatusCode, Json<CreatedKey>) {
    (
        StatusCode::CREATED,
        Json(CreatedKey {
            id: key.principal.key_id.clone(),
            key: key.secret.clone(),
            note: "the full key is shown only now; store it securely",
            prefix: format!("dp_{}_…", key.principal.key_id),
            project: key
                .principal
                .project
                .as_ref()
                .map(|p| Slug::as_str(p).to_string()),
            role: key.principal.role.as_str(),
        }),
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

#[utoipa::path(post, path = "/v1/projects/{slug}/keys", tag = "keys",
    summary = "Creates a write key scoped to an active project; the full key is shown only in this answer.",
    params(("slug" = String, Path, description = "The project's slug.")),
    responses((status = 201, description = "Created.", body = CreatedKey)))]
async fn create_project_key(
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

#[utoipa::path(get, path = "/v1/projects/{slug}/keys", tag = "keys",
    summary = "The keys scoped to a project, by prefix.",
    params(("slug" = String, Path, description = "The project's slug.")),
    responses((status = 200, description = "The keys.", body = KeyList)))]
async fn list_project_keys(
    State(state): Shared,
    who: Caller<Manage>,
    Path(slug): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    org_key(&who)?;
    let slug = slug_param(&slug)?;
    let keys = state.keys.list(who.org(), Some(&slug)).await?;
    Ok(Json(KeyList { keys }))
}

#[utoipa::path(delete, path = "/v1/projects/{slug}/keys/{key_id}", tag = "keys",
    summary = "Revokes a project's key (edges stop accepting it within their key cache TTL).",
    params(
        ("slug" = String, Path, description = "The project's slug."),
        ("key_id" = String, Path, description = "The key's id."),
    ),
    responses((status = 200, description = "Revoked.", body = RevokedKey)))]
async fn revoke_project_key(
    State(state): Shared,
    who: Caller<Manage>,
    Path((slug, key_id)): Path<(String, String)>,
) -> Result<Json<RevokedKey>, ApiError> {
    org_key(&who)?;
    let slug = slug_param(&slug)?;
    revoked(
        state.keys.revoke(who.org(), Some(&slug), &key_id).await?,
        key_id,
    )
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    summary = "Creates an org key with a role (owner only); the full key is shown only in this answer.",
    request_body = CreateKey,
    responses((status = 201, description = "Created.", body = CreatedKey)))]
async fn create_org_key(State(state): Shared, who: Caller<OwnerOnly>, body: Bytes) -> Created {
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

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    summary = "The org's keys, project-scoped ones included, by prefix (owner only).",
    responses((status = 200, description = "The keys.", body = KeyList)))]
async fn list_org_keys(
    State(state): Shared,
    who: Caller<OwnerOnly>,
) -> Result<Json<KeyList>, ApiError> {
    org_key(&who)?;
    let keys = state.keys.list(who.org(), None).await?;
    Ok(Json(KeyList { keys }))
}

#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys",
    summary = "Revokes any key of the org (owner only).",
    params(("key_id" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "Revoked.", body = RevokedKey)))]
async fn revoke_org_key(
    State(state): Shared,
    who: Caller<OwnerOnly>,
    Path(key_id): Path<String>,
) -> Result<Json<RevokedKey>, ApiError> {
    org_key(&who)?;
    revoked(state.keys.revoke(who.org(), None, &key_id).await?, key_id)
}

fn revoked(found: bool, key_id: String) -> Result<Json<RevokedKey>, ApiError> {
    if found {
        Ok(Json(RevokedKey {
            id: key_id,
            revoked: true,
        }))
    } else {
        Err(ApiError::not_found(format!("key {key_id} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::served::assert_served_as_documented;

    #[tokio::test]
    async fn every_route_is_served_as_documented() {
        assert_served_as_documented(
            router(crate::control::projects::tests::state()),
            &[
                ("/v1/keys", &["GET", "POST"]),
                ("/v1/keys/{key_id}", &["DELETE"]),
                ("/v1/projects/{slug}/keys", &["GET", "POST"]),
                ("/v1/projects/{slug}/keys/{key_id}", &["DELETE"]),
            ],
        )
        .await;
    }

    #[test]
    fn every_operation_documents_its_errors() {
        let mut router = router(crate::control::projects::tests::state());
        let doc = router.get_openapi_mut();
        let mut ids = Vec::new();
        for item in doc.paths.paths.values_mut() {
            for op in crate::http::openapi::operations(item) {
                assert!(op.responses.responses.contains_key("401"));
                ids.push(op.operation_id.clone().unwrap_or_default());
            }
        }
        ids.sort();
        let mut table: Vec<String> = ERRORS.iter().map(|(id, _)| id.to_string()).collect();
        table.sort();
        assert_eq!(ids, table, "ERRORS names every operation, and only those");
        let v = serde_json::to_value(&*doc).expect("JSON");
        let role = &v["components"]["schemas"]["KeyRole"]["enum"];
        assert_eq!(
            role,
            &serde_json::json!(["write", "owner", "admin", "member"])
        );
        for name in [
            "CreatedKey",
            "KeyList",
            "KeyInfo",
            "RevokedKey",
            "CreateKey",
        ] {
            assert!(v["components"]["schemas"][name].is_object(), "{name}");
        }
    }

    #[test]
    fn typed_answers_serialize_as_before() {
        let key = CreatedKey {
            id: "abc".into(),
            key: "dp_abc_secret".into(),
            note: "n",
            prefix: "dp_abc_…".into(),
            project: None,
            role: "owner",
        };
        let before = serde_json::json!({"id": "abc", "key": "dp_abc_secret", "prefix": "dp_abc_…",
            "project": null, "role": "owner", "note": "n"});
        assert_eq!(
            serde_json::to_string(&key).expect("JSON"),
            before.to_string()
        );
        let revoked = RevokedKey {
            id: "abc".into(),
            revoked: true,
        };
        assert_eq!(
            serde_json::to_string(&revoked).expect("JSON"),
            serde_json::json!({"id": "abc", "revoked": true}).to_string()
        );
    }
}
