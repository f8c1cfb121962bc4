//! The ClickHouse schema: the migrations in `sql/`, applied in order. Each
//! stream's column list is declared with its row (`crate::pipeline::rows`),
//! and a test there holds it to these migrations.
//!
//! Migrations are applied in file order and recorded in `schema_migrations`;
//! every statement is idempotent (`IF NOT EXISTS`), so a re-run, or two
//! migrators racing, converge on the same schema.

/// The migrations, in order (the binary carries `sql/`; a test checks the list).
pub const MIGRATIONS: [(&str, &str); 14] = [
    ("0001_init", include_str!("../../sql/0001_init.sql")),
    ("0002_projects", include_str!("../../sql/0002_projects.sql")),
    (
        "0003_allowed_origins",
        include_str!("../../sql/0003_allowed_origins.sql"),
    ),
    ("0004_spans", include_str!("../../sql/0004_spans.sql")),
    (
        "0005_feature_flags",
        include_str!("../../sql/0005_feature_flags.sql"),
    ),
    (
        "0006_span_attribute_maps",
        include_str!("../../sql/0006_span_attribute_maps.sql"),
    ),
    (
        "0007_query_tables",
        include_str!("../../sql/0007_query_tables.sql"),
    ),
    (
        "0008_project_activity_hourly",
        include_str!("../../sql/0008_project_activity_hourly.sql"),
    ),
    (
        "0009_redaction",
        include_str!("../../sql/0009_redaction.sql"),
    ),
    (
        "0010_retention",
        include_str!("../../sql/0010_retention.sql"),
    ),
    (
        "0011_retention_ttl",
        include_str!("../../sql/0011_retention_ttl.sql"),
    ),
    (
        "0012_rate_limit_counts",
        include_str!("../../sql/0012_rate_limit_counts.sql"),
    ),
    (
        "0013_coarse_partitions",
        include_str!("../../sql/0013_coarse_partitions.sql"),
    ),
    (
        "0014_coarse_partitions_ttl",
        include_str!("../../sql/0014_coarse_partitions_ttl.sql"),
    ),
];

/// The cluster form of the schema (`clickhouse.cluster`): the state the
/// migrations above reach, as replicated local tables and Distributed ones
/// (`sql/cluster/0001_schema.sql` says how), applied to every server.
/// `${database}` and `${cluster}` stand for the configured names
/// ([`render`]). A migration added to `sql/` needs its counterpart here:
/// `tests/it/cluster.rs` (18.16) and `tests/it/current_clickhouse.rs`
/// (current ClickHouse) compare the columns readers see on both forms.
pub const CLUSTER_MIGRATIONS: [(&str, &str); 2] = [
    (
        "cluster/0001_schema",
        include_str!("../../sql/cluster/0001_schema.sql"),
    ),
    (
        "cluster/0002_current_clickhouse",
        include_str!("../../sql/cluster/0002_current_clickhouse.sql"),
    ),
];

/// A cluster migration with the database's and the cluster's names in
/// place; both must be identifiers ([`identifier`]), since DDL takes no
/// bound parameters.
pub fn render(sql: &str, database: &str, cluster: &str) -> Result<String, MigrateError> {
    for name in [database, cluster] {
        if !identifier(name) {
            return Err(MigrateError::BadDatabaseName(name.to_string()));
        }
    }
    Ok(sql
        .replace("${database}", database)
        .replace("${cluster}", cluster))
}

/// Checks that `server` knows `cluster` with `shards` shards: the
/// Distributed tables read every shard it lists, and the consumer writes to
/// those `clickhouse.shards` lists, so the two must be the same cluster.
pub async fn check_cluster(
    server: &clickhouse::Client,
    cluster: &str,
    shards: usize,
) -> Result<(), MigrateError> {
    let found: u64 = server
        .query("SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = ?")
        .bind(cluster)
        .fetch_one()
        .await?;
    if found != shards as u64 {
        return Err(MigrateError::ClusterShape {
            cluster: cluster.to_string(),
            found,
            configured: shards,
        });
    }
    Ok(())
}

/// Whether `name` is a plain identifier (`[A-Za-z0-9_]+`).
pub fn identifier(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The oldest server a migration runs on, from its first line
/// (`-- requires ClickHouse 22.1`); `None` for one that runs on every
/// server downpour supports (ClickHouse 18.16 and newer).
pub fn requirement(sql: &str) -> Option<(u32, u32)> {
    let first = sql.lines().next()?;
    let version = first.trim().strip_prefix("-- requires ClickHouse ")?;
    server_version(version)
}

/// `major.minor` of a ClickHouse version string (`18.16.1`, `26.9.2.1`).
pub fn server_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a migration runs on the server of `version`.
pub fn runs_on(sql: &str, version: (u32, u32)) -> bool {
    requirement(sql).is_none_or(|needed| version >= needed)
}

/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an `ADD COLUMN` that
/// finds the column already there (another migrator won the race, or a run
/// stopped before recording the migration) has done its job. 18.16 says
/// `Code: 44`, current ClickHouse `Code: 15` (DUPLICATE_COLUMN).
///
/// Nor `RENAME TABLE IF EXISTS`: a `RENAME` whose first target exists
/// (`Code: 57`, TABLE_ALREADY_EXISTS, on both) has already swapped the
/// tables (0013_coarse_partitions.sql): its first pair fails, so nothing
/// was renamed by this run.
fn already_applied(stmt: &str, error: &clickhouse::error::Error) -> bool {
    let clickhouse::error::Error::BadResponse(m) = error else {
        return false;
    };
    let upper = stmt.to_ascii_uppercase();
    let duplicate_column = m.contains("Code: 44") || m.contains("Code: 15");
    (upper.contains(" ADD COLUMN ") && duplicate_column)
        || (upper.starts_with("RENAME TABLE") && m.contains("Code: 57"))
}

/// How long a statement may wait for a replicated table to leave read-only
/// mode.
const READ_ONLY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs one statement. A replicated table is read-only for a moment after
/// it is created or its server starts (until its ZooKeeper session is up):
/// an ALTER then is answered `Code: 242` (TABLE_IS_READ_ONLY); and a
/// replica still applying another replica's ALTER (current ClickHouse: a
/// cluster's `0002` runs on each replica in turn) answers `Code: 517`
/// (CANNOT_ASSIGN_ALTER). Both are tried again every half second for up to
/// [`READ_ONLY_WAIT`]; neither did anything.
async fn execute(db: &clickhouse::Client, stmt: &str) -> Result<(), clickhouse::error::Error> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        // Raw: migration text is ours, and `?` must not be read as a placeholder.
        match db.query_raw(stmt).execute().await {
            Err(clickhouse::error::Error::BadResponse(m))
                if matches!(crate::sink::classify::code(&m), Some(242 | 517))
                    && started.elapsed() < READ_ONLY_WAIT =>
            {
                if !said {
                    tracing::info!(error = %m, "replicated table not ready for the statement; trying again for up to 60 s");
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            done => return done,
        }
    }
}

/// Splits a migration file into statements (`;` at the end of a line).
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap_or("");
        if code.trim().is_empty() {
            continue;
        }
        current.push_str(code);
        current.push('\n');
        if code.trim_end().ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            out.push(stmt);
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database (or cluster) name is not a plain identifier.
    #[error("name {0:?} must be [A-Za-z0-9_]+")]
    BadDatabaseName(String),
    /// A statement failed.
    #[error("migration {version}: {source}")]
    Statement {
        /// The migration.
        version: String,
        /// The server's answer.
        source: clickhouse::error::Error,
    },
    /// Bookkeeping failed.
    #[error("migrations table: {0}")]
    Bookkeeping(#[from] clickhouse::error::Error),
    /// The server's `remote_servers` do not hold the configured cluster
    /// with as many shards as `clickhouse.shards` lists.
    #[error(
        "cluster {cluster}: the server has {found} shards, clickhouse.shards lists {configured}"
    )]
    ClusterShape {
        /// The cluster's name.
        cluster: String,
        /// Shards in the server's configuration.
        found: u64,
        /// Shards in downpour's.
        configured: usize,
    },
    /// `SELECT version()` gave something that is not `major.minor...`.
    #[error("server version {0:?} is not major.minor")]
    ServerVersion(String),
}

/// Creates the database and applies pending migrations; returns those
/// applied. A migration that needs a newer server ([`requirement`]) is left
/// pending, logged, and applied by a later run on an upgraded server.
pub async fn migrate(
    server: &clickhouse::Client,
    database: &str,
) -> Result<Vec<String>, MigrateError> {
    migrate_with(server, database, &MIGRATIONS).await
}

/// [`migrate`] with a list of migrations: a prefix of [`MIGRATIONS`] sets
/// up the schema of an older release (tests of a migration's upgrade path).
pub async fn migrate_with(
    server: &clickhouse::Client,
    database: &str,
    migrations: &[(&str, &str)],
) -> Result<Vec<String>, MigrateError> {
    if !identifier(database) {
        return Err(MigrateError::BadDatabaseName(database.to_string()));
    }
    // An identifier cannot be a bound parameter; it was checked above.
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
        .execute()
        .await?;
    let db = server.clone().with_database(database);
    db.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version String, applied_at DateTime DEFAULT now()) \
         ENGINE = ReplacingMergeTree() ORDER BY version",
    )
    .execute()
    .await?;
    let done: Vec<String> = db
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all()
        .await?;
    let server_text: String = db.query("SELECT version()").fetch_one().await?;
    let server_is =
        server_version(&server_text).ok_or(MigrateError::ServerVersion(server_text.clone()))?;
    let mut applied = Vec::new();
    for &(version, sql) in migrations {
        if done.iter().any(|v| v == version) {
            continue;
        }
        if !runs_on(sql, server_is) {
            tracing::info!(
                migration = version,
                server = %server_text,
                "migration needs a newer ClickHouse; left pending"
            );
            continue;
        }
        for stmt in statements(sql) {
            match execute(&db, &stmt).await {
                Err(source) if !already_applied(&stmt, &source) => {
                    return Err(MigrateError::Statement {
                        version: version.to_string(),
                        source,
                    });
                }
                _ => {}
            }
        }
        db.query("INSERT INTO schema_migrations (version) VALUES (?)")
            .bind(version)
            .execute()
            .await?;
        applied.push(version.to_string());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_a_migration() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("sql/ exists")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_string())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|(v, _)| v.to_string()).collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn a_migration_names_the_oldest_server_it_runs_on() {
        let maps = MIGRATIONS
            .iter()
            .find(|(v, _)| *v == "0006_span_attribute_maps")
            .map(|(_, sql)| *sql)
            .expect("listed");
        assert_eq!(requirement(maps), Some((22, 1)));
        assert!(!runs_on(maps, (18, 16)), "no Map on 18.16");
        assert!(!runs_on(maps, (21, 12)));
        assert!(runs_on(maps, (22, 1)) && runs_on(maps, (26, 9)));
        // TTL is not on 18.16 either (the sweeper does its work there);
        // every other migration runs on 18.16.
        let gated = [
            "0006_span_attribute_maps",
            "0011_retention_ttl",
            "0014_coarse_partitions_ttl",
        ];
        for (version, sql) in MIGRATIONS {
            assert_eq!(
                runs_on(sql, (18, 16)),
                !gated.contains(&version),
                "{version}"
            );
        }
        assert_eq!(server_version("18.16.1"), Some((18, 16)));
        assert_eq!(server_version("26.9.2.1"), Some((26, 9)));
        assert_eq!(server_version("x"), None);
    }

    #[test]
    fn a_column_or_a_swap_already_there_counts_as_done() {
        let said = |m: &str| clickhouse::error::Error::BadResponse(m.to_string());
        let add = "ALTER TABLE events ADD COLUMN x String";
        let swap = "RENAME TABLE events TO events_by_project, events_by_month TO events";
        assert!(already_applied(
            add,
            &said("Code: 44, e.displayText() = ...")
        ));
        assert!(already_applied(add, &said("Code: 15. DB::Exception: ...")));
        assert!(already_applied(
            swap,
            &said("Code: 57, e.displayText() = ...")
        ));
        assert!(!already_applied(
            swap,
            &said("Code: 60, e.displayText() = ...")
        ));
        assert!(!already_applied(
            add,
            &said("Code: 57, e.displayText() = ...")
        ));
        let create = "CREATE TABLE events (x String)";
        assert!(!already_applied(
            create,
            &said("Code: 57, e.displayText() = ...")
        ));
        assert!(!already_applied(swap, &clickhouse::error::Error::TimedOut));
    }

    #[test]
    fn the_cluster_form_names_its_database_and_cluster_everywhere() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/cluster");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("sql/cluster exists")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .map(|n| format!("cluster/{}", n.trim_end_matches(".sql")))
            .collect();
        files.sort();
        let listed: Vec<&str> = CLUSTER_MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(files, listed);
        let schema = render(CLUSTER_MIGRATIONS[0].1, "dp_1", "dc").expect("renders");
        assert!(!schema.contains("${"), "a placeholder left");
        assert!(schema.contains("Distributed(dc, dp_1, events_local)"));
        assert!(schema.contains("'/clickhouse/dc/dp_1/{shard}/events', '{replica}'"));
        assert!(render("x", "a;DROP", "dc").is_err());
        assert!(render("x", "dp", "").is_err());
        // Every replicated table has a path of its own.
        let paths: Vec<&str> = schema
            .match_indices("'/clickhouse/")
            .map(|(at, _)| schema[at..].split('\'').nth(1).unwrap_or(""))
            .collect();
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(paths.len(), unique.len(), "{paths:?}");
        assert_eq!(requirement(CLUSTER_MIGRATIONS[1].1), Some((22, 1)));
    }

    #[test]
    fn statements_split_and_drop_comments() {
        let s = statements("-- c\nCREATE TABLE a (x String); -- tail\n\nSELECT 1;\n");
        assert_eq!(s, vec!["CREATE TABLE a (x String)", "SELECT 1"]);
    }
}
