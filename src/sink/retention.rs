//! Retention on ClickHouse 18.16, which has no TTL (docs/CONTRACT.md §C24):
//! the consumer process sweeps its tables with mutations.
//!
//! Every row carries `expires_at` and, where it has bodies,
//! `body_expires_at`, stamped by the edge (`sql/0010_retention.sql`; 0 is
//! unstamped: the defaults counted from `received_at`). Two sweeps:
//!
//! - **bodies**, every `retention.body_sweep_every_ms` (1 h): one
//!   `ALTER TABLE t UPDATE <bodies> = <empty> WHERE <expired> AND <not yet
//!   empty>` per table holding bodies. On 18.16 an UPDATE rewrites only the
//!   updated columns of the parts that hold a matching row, and hard-links
//!   everything else (measured: docs/PERFORMANCE.md "Retention"). The
//!   "not yet empty" term keeps a part whose bodies were emptied last time
//!   from matching again.
//! - **rows**, every `retention.row_sweep_every_ms` (1 day; retention is
//!   counted in days): one `ALTER TABLE t DELETE WHERE <expired>` per
//!   table, which rewrites every column of the parts holding an expired row.
//!
//! Invariants: a sweep issues a mutation only for a table that has a row
//! due (a `count()` first, which reads the expiry columns and the bodies of
//! the granules that match) and no unfinished mutation of its own (a slow
//! server gets no queue of them); every statement is parameterized; the
//! clock is the caller's (tests move it). A body is therefore gone within
//! one sweep interval plus the mutation's run after it expired, a row
//! within a day. Once `migrate` has applied `sql/0011_retention_ttl.sql`
//! (a server with TTL), [`Sweeper::run`] does nothing: the server's merges
//! expire rows. A mutation that never finishes keeps its table from being
//! swept again: counted in `downpour_retention_busy_total`, listed by
//! `downpour sweep`.

use std::time::Duration;

use crate::registry::projects::Retention;
use crate::telemetry::catalogue::Counter;

/// What expires in a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Bodies past `body_expires_at` are emptied.
    Bodies,
    /// Rows past `expires_at` are deleted.
    Rows,
}

impl Sweep {
    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Sweep::Bodies => "bodies",
            Sweep::Rows => "rows",
        }
    }
}

/// A table the sweeper expires rows of.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its bodies: the `UPDATE` assignments that empty them, and the
    /// condition that some are still there. `None`: no bodies.
    pub bodies: Option<(&'static str, &'static str)>,
}

const EVENT_BODIES: (&str, &str) = (
    "ai_input = '', ai_output = '', attachments = '[]'",
    "(ai_input != '' OR ai_output != '' OR attachments != '[]')",
);

/// Every table that holds ingested rows, the copies of `events` (sql/0007)
/// included. A patch's empty attachments mean "not in this patch".
pub const TABLES: [Table; 7] = [
    Table {
        name: "events",
        bodies: Some(EVENT_BODIES),
    },
    Table {
        name: "events_by_time",
        bodies: Some(EVENT_BODIES),
    },
    Table {
        name: "events_by_user",
        bodies: Some(EVENT_BODIES),
    },
    Table {
        name: "partial_events",
        bodies: Some((
            "ai_input = '', ai_output = '', attachments = ''",
            "(ai_input != '' OR ai_output != '' OR attachments != '')",
        )),
    },
    Table {
        name: "spans",
        bodies: Some(("body_attributes = '{}'", "body_attributes != '{}'")),
    },
    Table {
        name: "signals",
        bodies: None,
    },
    Table {
        name: "users",
        bodies: None,
    },
];

/// The condition "expired at `?`" of a sweep, with an unstamped expiry
/// counted from `received_at` by the default (both bound: `?` default
/// seconds, then `?` now).
fn expired(sweep: Sweep) -> &'static str {
    match sweep {
        Sweep::Bodies => {
            "if(body_expires_at = 0, received_at + ?, body_expires_at) <= toDateTime(?)"
        }
        Sweep::Rows => "if(expires_at = 0, received_at + ?, expires_at) <= toDateTime(?)",
    }
}

/// The default retention of a sweep, in seconds.
fn default_secs(sweep: Sweep) -> u64 {
    let d = Retention::DEFAULT;
    match sweep {
        Sweep::Bodies => u64::from(d.body_hours) * 3600,
        Sweep::Rows => u64::from(d.log_days) * 86_400,
    }
}

/// What a sweep did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    NothingDue,
    /// A mutation was issued for this many rows.
    Mutated(u64),
    /// An earlier mutation of the table is still running: left to the next
    /// sweep.
    Busy,
}

/// Runs sweeps against one database: one server's, or one shard's of a
/// cluster (its `<table>_local` tables, on one replica: a mutation of a
/// replicated table reaches the others).
#[derive(Clone)]
pub struct Sweeper {
    db: clickhouse::Client,
    /// `_local` on a cluster's shard, else empty.
    suffix: &'static str,
    /// The migration whose record says the server expires rows by TTL.
    ttl_migration: &'static str,
}

impl Sweeper {
    /// A sweeper of the tables in `db`.
    pub fn new(db: clickhouse::Client) -> Sweeper {
        Sweeper {
            db,
            suffix: "",
            ttl_migration: TTL_MIGRATION,
        }
    }

    /// A sweeper of the local tables of the cluster shard `db` is a replica of.
    pub fn on_shard(db: clickhouse::Client) -> Sweeper {
        Sweeper {
            db,
            suffix: "_local",
            ttl_migration: CLUSTER_TTL_MIGRATION,
        }
    }

    /// The sweepers of a deployment: one for the server, or one per shard
    /// of `clickhouse.shards` (on its first replica; while that one is down
    /// the shard's sweep fails and the next interval tries again).
    pub fn of(
        cfg: &crate::config::ClickHouseConfig,
    ) -> Result<Vec<Sweeper>, crate::sink::clickhouse::ClientError> {
        use crate::sink::clickhouse::database;
        if cfg.cluster.is_empty() {
            return Ok(vec![Sweeper::new(database(cfg)?)]);
        }
        cfg.replica_urls()
            .into_iter()
            .filter_map(|replicas| replicas.into_iter().next())
            .map(|url| {
                Ok(Sweeper::on_shard(database(
                    &crate::config::ClickHouseConfig { url, ..cfg.clone() },
                )?))
            })
            .collect()
    }

    /// The table a sweep mutates (`events`, or `events_local` on a shard).
    fn target(&self, table: &str) -> String {
        format!("{table}{}", self.suffix)
    }

    /// One sweep of every table at `now` (seconds since the epoch): the
    /// mutations are issued, not awaited ([`Sweeper::settled`]).
    pub async fn sweep(
        &self,
        sweep: Sweep,
        now: u32,
    ) -> Result<Vec<(&'static str, Outcome)>, clickhouse::error::Error> {
        let mut done = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let outcome = self.sweep_table(table, sweep, now).await?;
            match outcome {
                Outcome::Mutated(rows) => {
                    Counter::retention_rows(sweep.name(), table.name).increment(rows);
                    tracing::info!(
                        table = table.name,
                        sweep = sweep.name(),
                        rows,
                        "retention mutation issued"
                    );
                }
                // A mutation that outlives a sweep interval: the server is
                // slow, or the mutation is stuck (system.mutations says).
                Outcome::Busy => {
                    Counter::retention_busy(sweep.name(), table.name).increment(1);
                    tracing::warn!(
                        table = table.name,
                        sweep = sweep.name(),
                        "an earlier mutation is still running (system.mutations); swept next interval"
                    );
                }
                Outcome::NothingDue => {}
            }
            done.push((table.name, outcome));
        }
        Ok(done)
    }

    async fn sweep_table(
        &self,
        table: Table,
        sweep: Sweep,
        now: u32,
    ) -> Result<Outcome, clickhouse::error::Error> {
        let (condition, change) = match (sweep, table.bodies) {
            (Sweep::Bodies, None) => return Ok(Outcome::NothingDue),
            (Sweep::Bodies, Some((set, held))) => (
                format!("{} AND {held}", expired(sweep)),
                format!("UPDATE {set}"),
            ),
            (Sweep::Rows, _) => (expired(sweep).to_string(), "DELETE".to_string()),
        };
        let target = self.target(table.name);
        if self.running(&target).await? > 0 {
            return Ok(Outcome::Busy);
        }
        // Table names and conditions are this module's constants; the
        // values are bound.
        let due: u64 = self
            .db
            .query(&format!("SELECT count() FROM {target} WHERE {condition}"))
            .bind(default_secs(sweep))
            .bind(now)
            .fetch_one()
            .await?;
        if due == 0 {
            return Ok(Outcome::NothingDue);
        }
        self.db
            .query(&format!("ALTER TABLE {target} {change} WHERE {condition}"))
            .bind(default_secs(sweep))
            .bind(now)
            .execute()
            .await?;
        Ok(Outcome::Mutated(due))
    }

    /// Unfinished mutations of `table`.
    async fn running(&self, table: &str) -> Result<u64, clickhouse::error::Error> {
        self.db
            .query(
                "SELECT count() FROM system.mutations \
                 WHERE database = currentDatabase() AND table = ? AND is_done = 0",
            )
            .bind(table)
            .fetch_one()
            .await
    }

    /// Whether every mutation of the swept tables has finished.
    pub async fn settled(&self) -> Result<bool, clickhouse::error::Error> {
        Ok(self.unfinished().await?.is_empty())
    }

    /// The unfinished mutations of the swept tables: `(table, mutation_id,
    /// command)`, as `system.mutations` has them.
    pub async fn unfinished(
        &self,
    ) -> Result<Vec<(String, String, String)>, clickhouse::error::Error> {
        let tables: Vec<String> = TABLES.iter().map(|t| self.target(t.name)).collect();
        self.db
            .query(
                "SELECT table, mutation_id, command FROM system.mutations \
                 WHERE database = currentDatabase() AND is_done = 0 AND has(?, table) \
                 ORDER BY create_time",
            )
            .bind(tables)
            .fetch_all()
            .await
    }

    /// Sweeps on the intervals of `cfg` until `shutdown`, by the wall
    /// clock, skipping every tick while the server expires rows by TTL.
    /// The first sweeps come within a minute of the start, at a random
    /// moment, so processes started together do not sweep together.
    pub async fn run(
        self,
        cfg: crate::config::RetentionConfig,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        if !cfg.sweep {
            return;
        }
        let first =
            tokio::time::Instant::now() + Duration::from_millis(rand::random_range(0..60_000));
        let every = |ms: u64| Duration::from_millis(ms.max(1000));
        let mut bodies = tokio::time::interval_at(first, every(cfg.body_sweep_every_ms));
        let mut rows = tokio::time::interval_at(first, every(cfg.row_sweep_every_ms));
        for timer in [&mut bodies, &mut rows] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut said_ttl = false;
        loop {
            let sweep = tokio::select! {
                _ = bodies.tick() => Sweep::Bodies,
                _ = rows.tick() => Sweep::Rows,
                _ = shutdown.changed() => return,
            };
            match self.has_ttl().await {
                Ok(true) => {
                    if !said_ttl {
                        tracing::info!(
                            "the server expires rows by TTL (sql/0011); no retention sweeps"
                        );
                        said_ttl = true;
                    }
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    Counter::retention_errors(sweep.name()).increment(1);
                    tracing::warn!(error = %e, "schema_migrations unreadable; next interval retries");
                    continue;
                }
            }
            let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
            if let Err(e) = self.sweep(sweep, now).await {
                Counter::retention_errors(sweep.name()).increment(1);
                tracing::warn!(sweep = sweep.name(), error = %e, "retention sweep failed; next interval retries");
            }
        }
    }

    /// Whether the server expires rows by TTL: `migrate` applied
    /// `sql/0011_retention_ttl.sql` (only a server that has TTL runs it).
    pub async fn has_ttl(&self) -> Result<bool, clickhouse::error::Error> {
        let applied: u64 = self
            .db
            .query("SELECT count() FROM schema_migrations WHERE version = ?")
            .bind(self.ttl_migration)
            .fetch_one()
            .await?;
        Ok(applied > 0)
    }
}

/// The migration that expires rows by TTL.
pub const TTL_MIGRATION: &str = "0011_retention_ttl";
/// The same in the cluster form of the schema.
pub const CLUSTER_TTL_MIGRATION: &str = "cluster/0002_current_clickhouse";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::StreamKind;

    /// Every stream's table is swept, and a table with bodies lists the
    /// columns its row declares.
    #[test]
    fn every_stream_table_is_swept_with_its_own_columns() {
        for kind in StreamKind::ALL {
            let schema = kind.schema();
            let table = TABLES
                .iter()
                .find(|t| t.name == schema.table)
                .unwrap_or_else(|| panic!("{} is not swept", schema.table));
            let has = |c: &str| schema.columns.iter().any(|col| col.name == c);
            assert!(has("expires_at") && has("received_at"), "{}", table.name);
            assert_eq!(
                table.bodies.is_some(),
                has("body_expires_at"),
                "{}",
                table.name
            );
            if let Some((set, _)) = table.bodies {
                for assignment in set.split(", ") {
                    let column = assignment.split(" = ").next().unwrap_or("");
                    assert!(has(column), "{}.{column}", table.name);
                }
            }
        }
    }

    #[test]
    fn the_ttl_migration_is_one_of_the_migrations() {
        assert!(
            crate::sink::schema::MIGRATIONS
                .iter()
                .any(|(v, _)| *v == TTL_MIGRATION)
        );
        assert!(
            crate::sink::schema::CLUSTER_MIGRATIONS
                .iter()
                .any(|(v, _)| *v == CLUSTER_TTL_MIGRATION)
        );
    }

    #[test]
    fn unstamped_rows_expire_by_the_defaults() {
        assert_eq!(default_secs(Sweep::Bodies), 48 * 3600);
        assert_eq!(default_secs(Sweep::Rows), 90 * 86_400);
    }
}
