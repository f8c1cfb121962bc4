//! Who may read which project: the key's role, `X-Raindrop-Project-Id`
//! resolved exactly as ingest resolves it, then the registry's stricter read
//! rule (only an existing, active project).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::QueryState;
use super::slots::Slot;
use crate::edge::project::project_of;
use crate::http::ApiError;
use crate::http::auth::{Caller, Read};
use crate::registry::projects::Status;
use crate::registry::slug::Slug;

/// Its name in error bodies.
const PROJECT_PARAM: &str = "X-Raindrop-Project-Id";

/// The one org and project a read sees; a handler that takes a `Scope`
/// runs only for a reader of an existing, active project.
#[derive(Debug)]
pub struct Scope {
    /// The caller's org.
    pub org: Arc<str>,
    /// An existing, active project of that org.
    pub project: Slug,
    /// The org's query slot, held while the handler runs.
    _slot: Slot,
}

#[cfg(test)]
impl Scope {
    /// A scope outside any request (unit tests of the SQL builder).
    pub fn for_test(org: &str, project: Slug) -> Scope {
        let org: Arc<str> = org.into();
        let _slot = super::slots::OrgSlots::new(1)
            .take(&org)
            .expect("a fresh org has a slot");
        Scope {
            org,
            project,
            _slot,
        }
    }
}

/// Authenticates the caller and resolves the project it reads.
///
/// 401 without a valid key; 403 for a write key, for a project-scoped key
/// asking for another project, and for a slug that is unknown, pending
/// (data sent, project never created) or archived; 400 for a malformed or
/// repeated header; 429 + `Retry-After` while the org runs
/// `query.max_concurrent_per_org` queries; 503 when the key store or
/// registry cannot be asked.
impl FromRequestParts<Arc<QueryState>> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<QueryState>,
    ) -> Result<Scope, ApiError> {
        let who = Caller::<Read>::from_request_parts(parts, state).await?;
        let project = project_of(&parts.headers, &who.principal)?;
        // Read from the registry itself, not a cache: creating a pending
        // project makes its data readable at once.
        match state.projects.get(who.org(), &project).await? {
            Some(p) if p.status == Status::Active => {
                let slot = state.slots.take(&who.principal.org).ok_or_else(|| ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        "this org already runs its most queries at once; retry shortly",
                    )
                })?;
                Ok(Scope {
                    org: who.principal.org,
                    project,
                    _slot: slot,
                })
            }
            Some(_) => Err(ApiError::forbidden(format!(
                "project {project} is archived; its data cannot be read"
            ))
            .with_param(PROJECT_PARAM)),
            None => Err(ApiError::forbidden(format!(
                "project {project} does not exist; data sent to a slug becomes readable once the project is created"
            ))
            .with_param(PROJECT_PARAM)),
        }
    }
}
