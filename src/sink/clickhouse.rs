//! The ClickHouse client and the INSERT of pre-encoded rows.
//!
//! ClickHouse 18.16 answers compressed HTTP responses with an empty body and
//! predates the RowBinaryWithNamesAndTypes validation, so the client is built
//! without compression (the crate's lz4 feature is off) and without validation.

use crate::config::ClickHouseConfig;
use crate::pipeline::StreamKind;
use crate::sink::batch::{Activity, Chunk};
use crate::sink::schema;

/// A client for the server (no database selected).
pub fn server(cfg: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&cfg.url)
        .with_user(&cfg.user)
        .with_password(&cfg.password)
        .with_validation(false)
}

/// A client for downpour's database.
pub fn database(cfg: &ClickHouseConfig) -> clickhouse::Client {
    server(cfg).with_database(&cfg.database)
}

/// Inserts one chunk of `kind` rows into `table` (an identifier checked when
/// the pipeline was loaded; the rows are data, never SQL).
pub async fn insert(
    db: &clickhouse::Client,
    table: &str,
    kind: StreamKind,
    chunk: &Chunk,
) -> Result<(), clickhouse::error::Error> {
    let sql = format!(
        "INSERT INTO {table} ({}) FORMAT RowBinary",
        schema::columns(kind)
    );
    let mut insert = db.insert_formatted_with(sql);
    for piece in &chunk.pieces {
        insert.send(piece.clone()).await?;
    }
    insert.end().await
}

/// Records rows per project after a flush (`project_activity`, the pending panel's source).
pub async fn record_activity(
    db: &clickhouse::Client,
    stream: &str,
    activity: &[Activity],
) -> Result<(), clickhouse::error::Error> {
    if activity.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?, now())"; activity.len()].join(", ");
    let mut query = db.query(&format!(
        "INSERT INTO project_activity (org, project, stream, rows, last_seen) VALUES {values}"
    ));
    for a in activity {
        query = query
            .bind(&a.org)
            .bind(&a.project)
            .bind(stream)
            .bind(a.rows);
    }
    query.execute().await
}
