//! How a stream's table is partitioned, read from the server when a
//! consumer worker starts and each time its group member is recreated: it
//! sets how many projects one INSERT may carry.
//!
//! Every INSERT writes one part per partition its rows fall in. A table
//! partitioned by project (the schema before `sql/0013_coarse_partitions.sql`)
//! gets a part per project, so a batch is split into INSERTs of at most
//! `max_projects_per_insert` projects, and a batch of `P` projects costs
//! `ceil(P / max_projects_per_insert)` INSERTs of the table's budget
//! ([`crate::sink::pace`]). A table partitioned by month takes a whole
//! batch in one INSERT, one part (two across a month's end) whatever `P`.
//!
//! Invariant: a table is taken to be partitioned by project unless the
//! server says otherwise (no answer, no such table yet): too many INSERTs
//! are slow, too many partitions in one INSERT are refused by current
//! ClickHouse (`max_partitions_per_insert_block`) and retried forever.

use std::time::Duration;

use crate::pipeline::BatchPolicy;

/// How long reading a partition key may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What one INSERT into a table may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// A partition per project: at most `max_projects_per_insert` projects.
    ByProject,
    /// Few partitions (by month): any number of projects.
    Coarse,
}

impl Partitioning {
    /// Reads `table`'s partition key (`system.tables`, on 18.16 too),
    /// waiting at most [`READ_TIMEOUT`].
    pub async fn of(db: &clickhouse::Client, table: &str) -> Partitioning {
        let query = db
            .query(
                "SELECT partition_key FROM system.tables \
                 WHERE database = currentDatabase() AND name = ?",
            )
            .bind(table)
            .fetch_optional::<String>();
        match tokio::time::timeout(READ_TIMEOUT, query).await {
            Ok(Ok(Some(key))) => Partitioning::from_key(&key),
            Ok(Ok(None)) => Partitioning::ByProject,
            Ok(Err(e)) => {
                tracing::warn!(table, error = %e, "partition key unreadable; INSERTs split by project until the member is recreated");
                Partitioning::ByProject
            }
            Err(_) => {
                tracing::warn!(
                    table,
                    "partition key not read in time; INSERTs split by project until the member is recreated"
                );
                Partitioning::ByProject
            }
        }
    }

    /// From a partition key as the server prints it (`(org, project)`,
    /// `toYYYYMM(received_at)`).
    pub fn from_key(key: &str) -> Partitioning {
        if key.contains("project") {
            Partitioning::ByProject
        } else {
            Partitioning::Coarse
        }
    }

    /// `policy` with the projects one INSERT may carry into such a table.
    pub fn policy(self, policy: &BatchPolicy) -> BatchPolicy {
        let mut out = policy.clone();
        if self == Partitioning::Coarse {
            out.max_projects_per_insert = usize::MAX;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::pace::inserts_needed;

    #[test]
    fn a_key_naming_the_project_splits_inserts_by_project() {
        assert_eq!(
            Partitioning::from_key("(org, project)"),
            Partitioning::ByProject
        );
        assert_eq!(
            Partitioning::from_key("toYYYYMM(received_at)"),
            Partitioning::Coarse
        );
        assert_eq!(Partitioning::from_key(""), Partitioning::Coarse);
    }

    #[test]
    fn a_coarse_table_takes_ten_thousand_projects_in_one_insert() {
        let policy = BatchPolicy {
            max_rows: 100_000,
            max_bytes: 1 << 25,
            max_age_ms: 500,
            max_projects_per_insert: 100,
        };
        let by_project = Partitioning::ByProject.policy(&policy);
        let coarse = Partitioning::Coarse.policy(&policy);
        assert_eq!(
            inserts_needed(10_000, by_project.max_projects_per_insert),
            100
        );
        assert_eq!(inserts_needed(10_000, coarse.max_projects_per_insert), 1);
        assert_eq!(inserts_needed(0, coarse.max_projects_per_insert), 0);
    }
}
