//! The HTTP application of a process, assembled in one place: which routes
//! it serves and the error path around them. `runtime` builds the states
//! and calls these; nothing else assembles a router.
//!
//! Invariant: every router leaves through [`with_json_errors`], so every
//! error answer of every route carries the JSON error body.

use std::sync::Arc;

use axum::Router;

use crate::control::ops::{self, Readiness};
use crate::control::projects::AdminState;
use crate::control::query::QueryState;
use crate::control::{keys, projects, query};
use crate::edge::{self, EdgeState};
use crate::http::fallback::with_json_errors;
use crate::pipeline::Pipeline;

/// The states the edge process's routes share.
pub struct EdgeApp {
    /// Ingest.
    pub edge: Arc<EdgeState>,
    /// The projects and keys admin APIs.
    pub admin: Arc<AdminState>,
    /// The Query API.
    pub query: Arc<QueryState>,
    /// What `/readyz` reports.
    pub readiness: Readiness,
}

/// Every public route of an edge process: ingest (one per pipeline), admin,
/// keys, query, health and readiness (`/metrics` is on [`ops_router`]).
pub fn edge_router(app: EdgeApp, pipelines: &[Pipeline], topic_prefix: &str) -> Router {
    let router = edge::router(app.edge, pipelines, topic_prefix)
        .merge(ops::health_router(app.readiness))
        .merge(projects::router(app.admin.clone()))
        .merge(keys::router(app.admin))
        .merge(query::router(app.query));
    with_json_errors(router)
}

/// The operator listener: health, readiness and `/metrics`.
pub fn ops_router(readiness: Readiness) -> Router {
    with_json_errors(ops::router(readiness, crate::telemetry::metrics_handle()))
}
