//! The registry: who may send (keys) and where data goes (project slugs).
//!
//! Invariants: a secret is never stored or logged in plaintext; a slug that
//! reaches the bus has passed [`slug::Slug::parse`].

pub mod admission;
pub mod keys;
pub mod lookups;
pub mod policies;
pub mod projects;
pub mod slug;
