//! The sink: Kafka records → batches grouped by project → ClickHouse.
//!
//! Invariants: an INSERT never touches more projects (partitions) than the
//! pipeline's `max_projects_per_insert`; offsets are committed only after
//! every INSERT holding their rows succeeded; a failed INSERT is retried with
//! backoff and nothing is committed meanwhile.

pub mod batch;
pub mod clickhouse;
pub mod rowbinary;
pub mod schema;
pub mod worker;
