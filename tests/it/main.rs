//! The integration tests, one binary (issue 9, "code health"): each module
//! is one concern, run against the real tansu broker and ClickHouse that
//! `scripts/test.sh` started (`common` is the harness). One binary links the
//! downpour library once instead of once per file; the tests run in
//! parallel in one process, so none may rely on process-wide state (each
//! harness has its own database, topics, groups and ports, and reads only
//! the metric series of its own topics).
//!
//! `tests/chaos.rs` stays a binary of its own: it stops and restarts its own
//! components under load, and runs after this one, not beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod bad_headers;
mod bad_input;
mod browser_sdk;
mod clickhouse_outage;
mod cluster;
mod coarse_partitions;
mod current_clickhouse;
mod dashboard;
mod dead_letter;
mod errors;
mod fair_share;
mod hot_project;
mod js_clients;
mod keys;
mod listener;
mod openapi;
mod otlp;
mod overload;
mod pipeline;
mod projects;
mod properties;
mod python_sdk;
mod query;
mod query_sdk;
mod query_sdk_views;
mod redaction;
mod registry_outage;
mod retention;
mod secure_transport;
mod security;
mod spool;
mod too_many_parts;
mod webdriver;
mod wedged_group;
