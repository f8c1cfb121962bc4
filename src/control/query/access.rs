//! Who may read which project: the key's role, `X-Raindrop-Project-Id`
//! resolved exactly as ingest resolves it, then the registry's stricter read
//! rule (only an existing, active project).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

use super::QueryState;
use crate::control::auth::{READ, authorize};
use crate::edge::error::ApiError;
use crate::edge::project::project_of;
use crate::registry::projects::Status;
use crate::registry::slug::Slug;

/// Its name in error bodies.
const PROJECT_PARAM: &str = "X-Raindrop-Project-Id";

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
    let principal = authorize(&state.keys, headers, READ).await?;
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

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
}

fn project_forbidden(message: String) -> ApiError {
    ApiError {
        param: Some(PROJECT_PARAM.into()),
        ..forbidden(message)
    }
}
