//! The ClickHouse schema: the migrations in `sql/`, applied in order. Each
//! stream's column list is declared with its row (`crate::pipeline::rows`),
//! and a test there holds it to these migrations.
//!
//! Migrations are applied in file order and recorded in `schema_migrations`;
//! every statement is idempotent (`IF NOT EXISTS`), so a re-run, or two
//! migrators racing, converge on the same schema.

/// The migrations, in order (the binary carries `sql/`; a test checks the list).
pub const MIGRATIONS: [(&str, &str); 5] = [
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
];

/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an `ADD COLUMN` that
/// finds the column already there (another migrator won the race, or a run
/// stopped before recording the migration) has done its job. 18.16 says
/// `Code: 44`, current ClickHouse `Code: 15` (DUPLICATE_COLUMN).
fn already_applied(stmt: &str, error: &clickhouse::error::Error) -> bool {
    stmt.to_ascii_uppercase().contains(" ADD COLUMN ")
        && matches!(error, clickhouse::error::Error::BadResponse(m)
            if m.contains("Code: 44") || m.contains("Code: 15"))
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
    /// The database name is not a plain identifier.
    #[error("database name {0:?} must be [A-Za-z0-9_]+")]
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
}

/// Creates the database and applies pending migrations; returns those applied.
pub async fn migrate(
    server: &clickhouse::Client,
    database: &str,
) -> Result<Vec<String>, MigrateError> {
    if database.is_empty()
        || !database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
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
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        if done.iter().any(|v| v == version) {
            continue;
        }
        for stmt in statements(sql) {
            // Raw: migration text is ours, and `?` must not be read as a placeholder.
            match db.query_raw(&stmt).execute().await {
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
    fn statements_split_and_drop_comments() {
        let s = statements("-- c\nCREATE TABLE a (x String); -- tail\n\nSELECT 1;\n");
        assert_eq!(s, vec!["CREATE TABLE a (x String)", "SELECT 1"]);
    }
}
