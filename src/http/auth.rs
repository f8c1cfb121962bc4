//! Who may call the control plane: the caller as an axum extractor, with
//! its role checked before the handler runs (docs/CONTRACT.md §C14:
//! Owner and Admin manage projects, Members send and read, SDK write keys
//! only send).
//!
//! A handler names what it needs in its signature, `Caller<Manage>`, and
//! never sees a request whose key is missing (401) or whose role is not in
//! that set (403).

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::source::Source;
use crate::registry::keys::{KeyStore, Principal, Role};
use crate::registry::slug::Slug;

/// A set of roles a route admits.
pub trait Roles: Send + Sync + 'static {
    /// The roles.
    const ALLOWED: &'static [Role];
}

/// Owner, admin and member keys: reads.
pub struct Read;
/// Owner and admin keys: managing projects and project keys.
pub struct Manage;
/// Owner keys only: org keys and org settings.
pub struct OwnerOnly;

impl Roles for Read {
    const ALLOWED: &'static [Role] = &[Role::Owner, Role::Admin, Role::Member];
}
impl Roles for Manage {
    const ALLOWED: &'static [Role] = &[Role::Owner, Role::Admin];
}
impl Roles for OwnerOnly {
    const ALLOWED: &'static [Role] = &[Role::Owner];
}

/// A state that can authenticate callers.
pub trait Authenticates {
    /// The key store.
    fn key_store(&self) -> &KeyStore;
}

impl<T: Authenticates> Authenticates for Arc<T> {
    fn key_store(&self) -> &KeyStore {
        (**self).key_store()
    }
}

/// An authenticated caller whose role is in `R`.
pub struct Caller<R: Roles> {
    /// Who is calling.
    pub principal: Principal,
    roles: PhantomData<R>,
}

impl<R: Roles> Caller<R> {
    /// The caller's org.
    pub fn org(&self) -> &str {
        &self.principal.org
    }

    /// The project a project-scoped key is confined to.
    pub fn scoped_to(&self) -> Option<&Slug> {
        self.principal.project.as_ref()
    }
}

impl<S, R> FromRequestParts<S> for Caller<R>
where
    S: Authenticates + Send + Sync,
    R: Roles,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let principal = state
            .key_store()
            .authenticate(
                parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
                Source::of(&parts.extensions),
            )
            .await?;
        if !R::ALLOWED.contains(&principal.role) {
            return Err(ApiError::forbidden(format!(
                "a {} key may not do this",
                principal.role.as_str()
            ))
            .with_param("Authorization"));
        }
        Ok(Caller {
            principal,
            roles: PhantomData,
        })
    }
}
