//! The ClickHouse client and the INSERT of pre-encoded rows.
//!
//! ClickHouse 18.16 answers compressed HTTP responses with an empty body and
//! predates the RowBinaryWithNamesAndTypes validation, so the client is built
//! without compression (the crate's lz4 feature is off) and without validation.
//! Every INSERT has send and answer timeouts, so a hung server is a retried
//! failure, not a stuck consumer. An `https://` URL is verified against the
//! system's trust store, or against `clickhouse.ca_file` when set (a file
//! that cannot be read is an error at startup, never a fallback to no TLS).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::config::ClickHouseConfig;
use crate::pipeline::StreamKind;
use crate::sink::batch::Activity;
use crate::sink::flush::Writer;
use crate::sink::shards::Targets;

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `clickhouse.ca_file` could not be read.
    #[error("clickhouse.ca_file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate, or TLS could not be set up.
    #[error("clickhouse TLS: {0}")]
    Tls(#[from] native_tls::Error),
    /// `ca_file` names no certificate.
    #[error("clickhouse.ca_file {0}: no PEM certificate in it")]
    NoCertificate(String),
    /// `ca_file` is set for a URL that is not `https://` (it would not be used).
    #[error("clickhouse.ca_file is set but clickhouse.url is not https://")]
    CaFileWithoutHttps,
}

/// A client for the server (no database selected).
pub fn server(cfg: &ClickHouseConfig) -> Result<clickhouse::Client, ClientError> {
    let client = match &cfg.ca_file {
        None => clickhouse::Client::default(),
        // Same keep-alive and idle-pool bound as the crate's default client.
        Some(_) if !cfg.url.starts_with("https://") => return Err(ClientError::CaFileWithoutHttps),
        Some(path) => clickhouse::Client::with_http_client(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(2))
                .build(trusting(path)?),
        ),
    };
    let client = client
        .with_url(&cfg.url)
        .with_user(&cfg.user)
        .with_password(&cfg.password)
        .with_validation(false);
    // On a cluster, a subquery on a Distributed table inside a query on
    // another (`IN (SELECT … FROM signals FINAL …)`) reads the shard's local
    // table: every table is sharded by project, so the rows it needs are on
    // the same shard (ClickHouse refuses such a query by default). And a
    // read goes to each shard's first live replica in the cluster's order,
    // the one the consumer writes to first (`crate::sink::shards`), not a
    // random one that may not have fetched the last INSERT yet.
    Ok(match cfg.cluster.is_empty() {
        true => client,
        false => client
            .with_setting("distributed_product_mode", "local")
            .with_setting("load_balancing", "in_order"),
    })
}

/// A client for downpour's database.
pub fn database(cfg: &ClickHouseConfig) -> Result<clickhouse::Client, ClientError> {
    Ok(server(cfg)?.with_database(&cfg.database))
}

/// An HTTP(S) connector like the crate's default one that also trusts the
/// certificate of `ca_file`.
fn trusting(
    ca_file: &std::path::Path,
) -> Result<hyper_tls::HttpsConnector<HttpConnector>, ClientError> {
    let pem = std::fs::read(ca_file).map_err(|source| ClientError::CaFile {
        path: ca_file.display().to_string(),
        source,
    })?;
    let roots = native_tls::Certificate::stack_from_pem(&pem)?;
    if roots.is_empty() {
        return Err(ClientError::NoCertificate(ca_file.display().to_string()));
    }
    let mut tls = native_tls::TlsConnector::builder();
    for root in roots {
        tls.add_root_certificate(root);
    }
    let tls = tls.build()?;
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.enforce_http(false);
    Ok(hyper_tls::HttpsConnector::from((
        http,
        tokio_native_tls::TlsConnector::from(tls),
    )))
}

/// How long sending one piece of an INSERT body may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long ClickHouse may take to answer an INSERT once the body is sent;
/// past it the INSERT counts as a slow server (retried, with a slow-down).
const END_TIMEOUT: Duration = Duration::from_secs(60);

/// Inserts pre-encoded rows of one stream into its table, on one server or
/// on the shard a chunk's projects live on (`crate::sink::shards`).
pub struct RowInserter {
    targets: Arc<Targets>,
    sql: String,
    stream: &'static str,
}

impl RowInserter {
    /// Inserts `kind` rows into `table` (an identifier checked when the
    /// pipeline was loaded; the rows are data, never SQL): on a cluster,
    /// into each shard's `<table>_local`.
    pub fn new(targets: Arc<Targets>, table: &str, kind: StreamKind, cluster: bool) -> RowInserter {
        let table = match cluster {
            true => format!("{table}_local"),
            false => table.to_string(),
        };
        RowInserter {
            targets,
            sql: format!(
                "INSERT INTO {table} ({}) FORMAT RowBinary",
                kind.schema().column_list
            ),
            stream: kind.name(),
        }
    }
}

impl Writer for RowInserter {
    async fn insert(
        &self,
        shard: usize,
        pieces: Vec<Bytes>,
    ) -> Result<(), clickhouse::error::Error> {
        let insert = |db: clickhouse::Client| {
            let pieces = pieces.clone();
            async move {
                let mut insert = db
                    .insert_formatted_with(self.sql.clone())
                    .with_timeouts(Some(SEND_TIMEOUT), Some(END_TIMEOUT));
                for piece in pieces {
                    insert.send(piece).await?;
                }
                insert.end().await
            }
        };
        match self.targets.shard(shard) {
            Some(replicas) => replicas.write(insert).await,
            None => Err(clickhouse::error::Error::Custom(format!(
                "no shard {shard} among {}",
                self.targets.len()
            ))),
        }
    }

    /// Project activity is on every server of a cluster: any live one.
    async fn activity(&self, activity: &[Activity]) -> Result<(), clickhouse::error::Error> {
        let record = |db: clickhouse::Client| async move {
            record_activity(&db, self.stream, activity).await
        };
        self.targets.everywhere().write(record).await
    }
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
