//! The sink: Kafka records → batches grouped by project → ClickHouse, and
//! records it can never insert → the dead-letter topic.
//!
//! Invariants: an INSERT into a table partitioned by project never touches
//! more projects than the pipeline's `max_projects_per_insert`
//! ([`partitioning`]); offsets are committed only after
//! every record before them is in ClickHouse or acknowledged on the
//! dead-letter topic; a failed INSERT is retried with backoff and nothing is
//! committed meanwhile, unless ClickHouse refuses the data itself, in which
//! case the refused records are isolated by bisection and dead-lettered.
//! On a cluster, a project's rows go to one shard, any live replica of it
//! ([`shards`]). Where ClickHouse has no TTL, the consumer process also expires what the
//! edge stamped to expire ([`retention`]).

pub mod backoff;
pub mod batch;
pub mod bisect;
pub mod classify;
pub mod clickhouse;
#[cfg(test)]
mod fakes;
pub mod flush;
pub mod layout;
pub mod pace;
pub mod partitioning;
pub mod retention;
pub mod rowbinary;
pub mod schema;
pub mod shards;
pub mod watchdog;
pub mod worker;
