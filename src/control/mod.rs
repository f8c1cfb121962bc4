//! The control plane served beside the ingest routes: the operator's
//! endpoints (`ops`: health, readiness, metrics), the projects admin API
//! (`projects`), the keys API (`keys`), the caller and its org's activity
//! (`org`), redaction policies (`policies`), the Query API (`query`) and the dashboard (`dashboard`), a
//! page that calls those APIs.

pub mod dashboard;
pub mod keys;
pub mod ops;
pub mod org;
pub mod policies;
pub mod projects;
pub mod query;
