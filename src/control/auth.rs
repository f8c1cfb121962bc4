//! Who may call the control plane: one role check for the admin, keys and
//! query APIs. raindrop-projects.md: "Creating, renaming, and archiving
//! projects is restricted to Owner and Admin roles. Members can send data to
//! and view existing projects"; SDK write keys only send.

use axum::http::{HeaderMap, StatusCode, header};

use crate::edge::error::ApiError;
use crate::registry::keys::{KeyStore, Principal, Role};

/// Roles that read.
pub const READ: &[Role] = &[Role::Owner, Role::Admin, Role::Member];
/// Roles that manage projects.
pub const MANAGE: &[Role] = &[Role::Owner, Role::Admin];
/// Roles that manage org keys.
pub const OWNER: &[Role] = &[Role::Owner];

/// Authenticates the caller (401) and checks its role is in `allowed` (403).
pub async fn authorize(
    keys: &KeyStore,
    headers: &HeaderMap,
    allowed: &[Role],
) -> Result<Principal, ApiError> {
    let principal = keys
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .await?;
    if !allowed.contains(&principal.role) {
        return Err(ApiError {
            param: Some("Authorization".into()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                format!("a {} key may not do this", principal.role.as_str()),
            )
        });
    }
    Ok(principal)
}
