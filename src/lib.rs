//! downpour: a Raindrop-compatible ingest pipeline.
//!
//! The modules follow the data's path:
//! `edge` (HTTP, auth, project resolution, validation) → `bus` (Kafka) →
//! `sink` (batching and ClickHouse inserts). `registry` holds keys and
//! projects, `pipeline` the per-stream definitions read from `pipelines/`,
//! `control` the operator endpoints, `load` the end-to-end load command (the
//! default `load` feature).
//! `docs/ARCHITECTURE.md` walks one request through all of them.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod bus;
pub mod config;
pub mod control;
pub mod edge;
pub mod http;
#[cfg(feature = "load")]
pub mod load;
pub mod pipeline;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod serve;
pub mod sink;
pub mod telemetry;
