//! Starting and stopping downpour's parts: the binary's subcommands and the
//! integration tests both go through here, so tests run the real wiring.
//!
//! Shutdown order (SIGTERM): stop accepting, finish in-flight requests (each
//! waits for its acks), flush the producer, then let consumers insert and
//! commit what they hold.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::bus::consumer::Consumer;
use crate::bus::producer::Producer;
use crate::bus::topics;
use crate::config::Config;
use crate::control::projects::AdminState;
use crate::control::query::QueryState;
use crate::edge::{self, EdgeState};
use crate::pipeline::{self, Pipeline, PipelineError};
use crate::registry::admission::Admission;
use crate::registry::keys::KeyStore;
use crate::registry::projects::ProjectStore;
use crate::sink::schema::{self, MigrateError};
use crate::sink::{clickhouse, worker};

/// Why a part could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Pipeline definitions.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Kafka client or topics.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// ClickHouse schema.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Binding the listener.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Which parts to run.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The ingest HTTP server.
    pub edge: bool,
    /// One consumer per pipeline.
    pub consumers: bool,
}

/// Running parts, stopped by [`Running::stop`].
pub struct Running {
    /// Where the edge listens, when it runs.
    pub edge_addr: Option<SocketAddr>,
    /// Where a consumer-only process serves `/metrics`, when it does.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    edge_task: Option<JoinHandle<()>>,
    consumer_tasks: Vec<JoinHandle<()>>,
    producer: Option<Producer>,
}

/// Full topic names of `pipelines`.
pub fn topic_names(cfg: &Config, pipelines: &[Pipeline]) -> Vec<String> {
    pipelines
        .iter()
        .map(|p| format!("{}{}", cfg.kafka.topic_prefix, p.topic))
        .collect()
}

/// Applies migrations and creates topics; returns the migrations applied.
pub async fn migrate(cfg: &Config) -> Result<Vec<String>, StartError> {
    let pipelines = pipeline::load(cfg.pipelines_dir.as_deref())?;
    let applied = schema::migrate(
        &clickhouse::server(&cfg.clickhouse),
        &cfg.clickhouse.database,
    )
    .await?;
    topics::ensure(&cfg.kafka, &topic_names(cfg, &pipelines)).await?;
    Ok(applied)
}

/// The key store the edge and `keys create` use.
pub fn key_store(cfg: &Config) -> KeyStore {
    KeyStore::new(
        clickhouse::database(&cfg.clickhouse),
        Duration::from_millis(cfg.edge.key_cache_ttl_ms),
        Duration::from_millis(cfg.edge.key_miss_ttl_ms),
    )
}

/// The projects registry.
pub fn project_store(cfg: &Config) -> ProjectStore {
    ProjectStore::new(
        clickhouse::database(&cfg.clickhouse),
        cfg.registry.default_pending_limit,
    )
}

/// Starts `parts`. The edge binds `cfg.listen` (port 0 picks a free port).
pub async fn start(cfg: &Config, parts: Parts) -> Result<Running, StartError> {
    let pipelines = pipeline::load(cfg.pipelines_dir.as_deref())?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut running = Running {
        edge_addr: None,
        metrics_addr: None,
        shutdown,
        edge_task: None,
        consumer_tasks: Vec::new(),
        producer: None,
    };
    if parts.consumers {
        let dead_letters = crate::bus::dead_letter::DeadLetters::new(&cfg.kafka)?;
        for p in &pipelines {
            let group = format!("{}-{}", cfg.kafka.group_prefix, p.name);
            let topic = format!("{}{}", cfg.kafka.topic_prefix, p.topic);
            let worker = worker::Worker {
                pipeline: p.clone(),
                consumer: Consumer::new(&cfg.kafka, &group, &topic)?,
                db: clickhouse::database(&cfg.clickhouse),
                dead_letters: dead_letters.clone(),
                cfg: cfg.consumer.clone(),
            };
            running
                .consumer_tasks
                .push(tokio::spawn(worker::run(worker, shutdown_rx.clone())));
        }
    }
    if parts.consumers
        && !parts.edge
        && let Some(addr) = cfg.consumer.metrics_listen
        && let Some((bound, task)) = serve_ops(cfg, addr, shutdown_rx.clone()).await
    {
        running.metrics_addr = Some(bound);
        running.edge_task = Some(task);
    }
    if parts.edge {
        let producer = Producer::new(&cfg.kafka)?;
        let ready = Arc::new(AtomicBool::new(true));
        tokio::spawn(watch_broker(
            producer.clone(),
            ready.clone(),
            shutdown_rx.clone(),
        ));
        // One key store (and cache) for ingest, admin and query: a revocation
        // made here takes effect at once in this process.
        let keys = key_store(cfg);
        let projects = project_store(cfg);
        let admission = Admission::new(
            projects.clone(),
            Duration::from_millis(cfg.registry.cache_ttl_ms),
        );
        let admin = Arc::new(AdminState {
            keys: keys.clone(),
            projects,
            admission: admission.clone(),
        });
        let state = Arc::new(EdgeState {
            keys: keys.clone(),
            admission,
            rate_limiter: Default::default(),
            producer: producer.clone(),
            in_flight: Semaphore::new(cfg.edge.max_concurrent_requests),
            max_body_bytes: cfg.edge.max_body_bytes,
            body_budget: edge::BodyBudget::new(cfg.edge.max_inflight_body_bytes),
            body_timeout: Duration::from_millis(cfg.edge.request_timeout_ms),
            ready: ready.clone(),
        });
        let app = edge::router(state, &pipelines, &cfg.kafka.topic_prefix)
            .merge(crate::control::router(
                ready,
                crate::telemetry::metrics_handle(),
            ))
            .merge(crate::control::projects::router(admin.clone()))
            .merge(crate::control::keys::router(admin))
            .merge(crate::control::query::router(Arc::new(QueryState {
                keys: keys.clone(),
                projects: project_store(cfg),
                db: clickhouse::database(&cfg.clickhouse),
            })))
            .fallback(|| async { not_routed(axum::http::StatusCode::NOT_FOUND, "no such route") })
            .method_not_allowed_fallback(|| async {
                not_routed(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed on this route",
                )
            })
            .layer(axum::middleware::map_response(json_errors));
        let listener = TcpListener::bind(cfg.listen).await?;
        running.edge_addr = Some(listener.local_addr()?);
        let mut stop = shutdown_rx.clone();
        let limits = crate::serve::Limits::from_config(&cfg.edge);
        running.edge_task = Some(tokio::spawn(crate::serve::serve(
            listener,
            app,
            limits,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
        running.producer = Some(producer);
    }
    Ok(running)
}

/// Serves `/metrics`, `/healthz` and `/readyz` for a consumer-only process;
/// a taken port is logged, not fatal (the consumers matter more).
async fn serve_ops(
    cfg: &Config,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> Option<(SocketAddr, JoinHandle<()>)> {
    let bound = TcpListener::bind(addr)
        .await
        .and_then(|listener| Ok((listener.local_addr()?, listener)));
    let (bound, listener) = match bound {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "consumer metrics listener not started");
            return None;
        }
    };
    tracing::info!(addr = %bound, "consumer metrics listening");
    let app = crate::control::router(
        Arc::new(AtomicBool::new(true)),
        crate::telemetry::metrics_handle(),
    );
    let task = tokio::spawn(crate::serve::serve(
        listener,
        app,
        crate::serve::Limits::from_config(&cfg.edge),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));
    Some((bound, task))
}

/// Unknown routes and methods get the JSON error body too.
fn not_routed(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::edge::error::ApiError::new(status, "invalid_request_error", message).into_response()
}

/// Every error answer carries the JSON error body, including the plain-text
/// rejections of axum's extractors (a malformed path segment, a body over
/// the admin API's limit).
///
/// A body refused unread (413, 408) leaves the connection mid-request, and
/// the server closes it after answering: the answer says so
/// (`Connection: close`), or a keep-alive client would send its next request
/// on a connection that is going away.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut response = if !(status.is_client_error() || status.is_server_error()) || is_json {
        response
    } else {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let message = status.canonical_reason().unwrap_or("error").to_string();
        crate::edge::error::ApiError::new(status, kind, message).into_response()
    };
    if matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Keeps `ready` equal to "the broker answers metadata requests".
async fn watch_broker(
    producer: Producer,
    ready: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let reachable = producer.reachable(Duration::from_secs(2)).await;
        if ready.swap(reachable, Ordering::Relaxed) != reachable {
            tracing::warn!(reachable, "broker reachability changed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

impl Running {
    /// Stops everything in order and waits for it.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(edge) = self.edge_task.take() {
            let _ = edge.await;
        }
        if let Some(producer) = self.producer.take()
            && let Err(e) = producer.flush(Duration::from_secs(10)).await
        {
            tracing::warn!(error = %e, "producer flush on shutdown");
        }
        for task in self.consumer_tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
