//! The client address a request came from, as the listener saw it
//! (`src/serve`), for the limits kept per source: connections held and
//! unknown-key lookups.
//!
//! Invariant: the listener records it on every request it serves; a
//! request built elsewhere (unit tests) has none, and per-source limits
//! then do not apply to it.

use std::net::IpAddr;

use axum::http::Extensions;

/// The peer address of a request's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(pub IpAddr);

impl Source {
    /// The source recorded in a request's extensions.
    pub fn of(extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<Source>().map(|s| s.0)
    }
}
