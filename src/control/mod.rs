//! The control plane served beside the ingest routes: the operator's
//! endpoints (`ops`: health, readiness, metrics), the projects admin API
//! (`projects`), the keys API (`keys`) and the Query API (`query`).

pub mod keys;
pub mod ops;
pub mod projects;
pub mod query;
