//! What the edge and the control plane share on the HTTP side: the one
//! error answer ([`error::ApiError`], the only way a handler fails) and the
//! authenticated caller as an axum extractor ([`auth::Caller`]), and CORS
//! for browser callers ([`cors`]).
//!
//! Invariant: every route answers an error with the JSON body of
//! [`error::ApiError`]; nothing below this module builds an error response.

pub mod auth;
pub mod cors;
pub mod error;
pub mod fallback;
pub mod openapi;
#[cfg(test)]
pub(crate) mod served;
pub mod source;

pub use auth::Caller;
pub use error::ApiError;
pub use source::Source;
