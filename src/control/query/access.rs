//! Who may read which project: the key's role, `X-Raindrop-Project-Id`
//! resolved exactly as ingest resolves it, then the registry's stricter read
//! rule (only an existing, active project).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};

use super::QueryState;
use crate::edge::error::ApiError;
use crate::registry::keys::{Principal, Role};
use crate::registry::projects::Status;
use crate::registry::slug::{Slug, SlugError};

/// The project header, as ingest names it.
const PROJECT_HEADER: &str = "x-raindrop-project-id";

/// Its name in error bodies.
const PROJECT_PARAM: &str = "X-Raindrop-Project-Id";

/// Roles that read: "Members can send data to and view existing projects";
/// SDK write keys only send.
const READERS: &[Role] = &[Role::Owner, Role::Admin, Role::Member];

/// The one org and project a read sees.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The caller's org.
    pub org: Arc<str>,
    /// An existing, active project of that org.
    pub project: Slug,
}

/// Authenticates the caller and resolves the project it reads.
///
/// 401 without a valid key; 403 for a write key, for a project-scoped key
/// asking for another project, and for a slug that is unknown, pending
/// (data sent, project never created) or archived; 400 for a malformed or
/// repeated header; 503 when the key store or registry cannot be asked.
pub async fn scope(state: &QueryState, headers: &HeaderMap) -> Result<Scope, ApiError> {
    let principal = state
        .keys
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .await?;
    if !READERS.contains(&principal.role) {
        return Err(ApiError {
            param: Some("Authorization".into()),
            ..forbidden(format!(
                "a {} key may not read; use an owner, admin or member key",
                principal.role.as_str()
            ))
        });
    }
    let project = project_of(headers, &principal)?;
    // Read from the registry itself, not a cache: creating a pending project
    // makes its data readable at once.
    match state.projects.get(&principal.org, &project).await? {
        Some(p) if p.status == Status::Active => Ok(Scope {
            org: principal.org,
            project,
        }),
        Some(_) => Err(project_forbidden(format!(
            "project {project} is archived; its data cannot be read"
        ))),
        None => Err(project_forbidden(format!(
            "project {project} does not exist; data sent to a slug becomes readable once the project is created"
        ))),
    }
}

/// `X-Raindrop-Project-Id` exactly as ingest parses it (`edge::ingest`):
/// unset, empty or `default` → `default`; given twice, non-ASCII or
/// malformed → 400. A project-scoped key means its own project when the
/// header is absent and may not name another (403).
fn project_of(headers: &HeaderMap, principal: &Principal) -> Result<Slug, ApiError> {
    let mut values = headers.get_all(PROJECT_HEADER).iter();
    let value = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(PROJECT_PARAM, "given more than once"));
    }
    let raw = match value.map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) => Some(s.trim()),
        Some(Err(_)) => return Err(ApiError::bad_request(PROJECT_PARAM, "must be ASCII")),
    };
    let slug = match (raw, &principal.project) {
        (None | Some(""), Some(scoped)) => scoped.clone(),
        _ => Slug::from_header(raw)
            .map_err(|e: SlugError| ApiError::bad_request(PROJECT_PARAM, &e.to_string()))?,
    };
    if let Some(scoped) = &principal.project
        && *scoped != slug
    {
        return Err(project_forbidden(format!(
            "this key reads only project {scoped}"
        )));
    }
    Ok(slug)
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
}

fn project_forbidden(message: String) -> ApiError {
    ApiError {
        param: Some(PROJECT_PARAM.into()),
        ..forbidden(message)
    }
}
