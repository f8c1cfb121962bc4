//! `X-Raindrop-Project-Id`, resolved the same way for ingest and for reads
//! (docs/CONTRACT.md §C3: the header is the canonical way to name the
//! project; an omitted, empty or `default` slug means the `default`
//! ("Production") project, §C5).

use axum::http::{HeaderMap, StatusCode};

use crate::http::ApiError;
use crate::registry::keys::Principal;
use crate::registry::slug::{Slug, SlugError};

/// The header, lower-case as `HeaderMap` stores it.
pub const PROJECT_HEADER: &str = "x-raindrop-project-id";

/// Resolves `X-Raindrop-Project-Id` (docs/CONTRACT.md §C3).
///
/// A project-scoped key writes only to its project: without the header it
/// means that project; with another slug it is a 403.
pub fn project_of(headers: &HeaderMap, principal: &Principal) -> Result<Slug, ApiError> {
    let mut values = headers.get_all(PROJECT_HEADER).iter();
    let value = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "X-Raindrop-Project-Id",
            "given more than once",
        ));
    }
    let raw = match value.map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) => Some(s.trim()),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "X-Raindrop-Project-Id",
                "must be ASCII",
            ));
        }
    };
    let slug = match (raw, &principal.project) {
        (None | Some(""), Some(scoped)) => scoped.clone(),
        _ => Slug::from_header(raw).map_err(|e: SlugError| {
            ApiError::bad_request("X-Raindrop-Project-Id", &e.to_string())
        })?,
    };
    if let Some(scoped) = &principal.project
        && *scoped != slug
    {
        return Err(ApiError {
            param: Some("X-Raindrop-Project-Id".into()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                format!("this key is scoped to project {scoped}"),
            )
        });
    }
    Ok(slug)
}
