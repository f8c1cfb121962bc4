//! Starting and stopping downpour's parts: the binary's subcommands and the
//! integration tests both go through here, so tests run the real wiring.
//!
//! Shutdown order (SIGTERM): stop accepting, finish in-flight requests (each
//! waits for its acks), flush the producer, then let consumers insert and
//! commit what they hold.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::app::{self, EdgeApp};
use crate::bus::producer::Producer;
use crate::bus::spool::Spool;
use crate::bus::topics;
use crate::config::{ClickHouseConfig, Config};
use crate::control::ops::{Check, Readiness};
use crate::control::projects::{AdminState, Ceilings};
use crate::control::query::QueryState;
use crate::edge::{self, EdgeState};
use crate::pipeline::{self, Pipeline, PipelineError};
use crate::registry::admission::Admission;
use crate::registry::keys::KeyStore;
use crate::registry::policies::PolicyStore;
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
    /// The ClickHouse client (its TLS settings).
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::ClientError),
    /// Settings that contradict each other.
    #[error("configuration: {0}")]
    Config(String),
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
    /// Where this process serves `/metrics` (its operator listener), when
    /// it does: `edge.ops_listen` with the edge, else `consumer.metrics_listen`.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    edge_task: Option<JoinHandle<()>>,
    ops_task: Option<JoinHandle<()>>,
    consumer_tasks: Vec<JoinHandle<()>>,
    producer: Option<Producer>,
    /// The edge's spool writer and forwarder, waited for on stop (they hold
    /// its directory's lock).
    spool_tasks: Option<crate::bus::spool::SpoolTasks>,
}

/// Full topic names of `pipelines`.
pub fn topic_names(cfg: &Config, pipelines: &[Pipeline]) -> Vec<String> {
    pipelines
        .iter()
        .map(|p| format!("{}{}", cfg.kafka.topic_prefix, p.topic))
        .collect()
}

/// Applies migrations and creates topics; returns the migrations applied.
/// With `clickhouse.cluster` set, the cluster form of the schema on every
/// server of `clickhouse.shards` instead.
pub async fn migrate(cfg: &Config) -> Result<Vec<String>, StartError> {
    migrate_with(cfg, &schema::MIGRATIONS).await
}

/// [`migrate`] with a list of migrations ([`schema::migrate_with`]; a
/// cluster always gets [`schema::CLUSTER_MIGRATIONS`]).
pub async fn migrate_with(
    cfg: &Config,
    migrations: &[(&str, &str)],
) -> Result<Vec<String>, StartError> {
    cfg.kafka.security.check().map_err(StartError::Config)?;
    cfg.clickhouse.check().map_err(StartError::Config)?;
    let pipelines = pipeline::load(cfg.pipelines_dir.as_deref())?;
    let applied = match cfg.clickhouse.cluster.is_empty() {
        true => {
            schema::migrate_with(
                &clickhouse::server(&cfg.clickhouse)?,
                &cfg.clickhouse.database,
                migrations,
            )
            .await?
        }
        false => migrate_cluster(&cfg.clickhouse).await?,
    };
    topics::ensure(&cfg.kafka, &topic_names(cfg, &pipelines)).await?;
    Ok(applied)
}

/// The cluster form of the schema on every server of `ch.shards`, once
/// the servers' `{shard}` macros and shard count match the configuration.
async fn migrate_cluster(ch: &ClickHouseConfig) -> Result<Vec<String>, StartError> {
    let rendered = schema::CLUSTER_MIGRATIONS
        .iter()
        .map(|(v, sql)| Ok((*v, schema::render(sql, &ch.database, &ch.cluster)?)))
        .collect::<Result<Vec<_>, schema::MigrateError>>()?;
    let rendered: Vec<(&str, &str)> = rendered.iter().map(|(v, s)| (*v, s.as_str())).collect();
    crate::sink::shards::verify(ch, true)
        .await
        .map_err(StartError::Config)?;
    let shards = ch.replica_urls();
    let mut applied = Vec::new();
    for url in shards.iter().flatten() {
        let server = clickhouse::server(&ClickHouseConfig {
            url: url.clone(),
            ..ch.clone()
        })?;
        schema::check_cluster(&server, &ch.cluster, shards.len()).await?;
        for version in schema::migrate_with(&server, &ch.database, &rendered).await? {
            applied.push(format!("{version} on {url}"));
        }
    }
    Ok(applied)
}

/// The key store the edge and `keys create` use.
pub fn key_store(cfg: &Config) -> Result<KeyStore, clickhouse::ClientError> {
    Ok(KeyStore::new(
        clickhouse::database(&cfg.clickhouse)?,
        Duration::from_millis(cfg.edge.key_cache_ttl_ms),
        Duration::from_millis(cfg.edge.key_miss_ttl_ms),
        Duration::from_millis(cfg.registry.stale_grace_ms),
        crate::registry::lookups::LookupBudget::new(cfg.edge.key_lookups_per_source_per_minute),
    ))
}

/// The projects registry.
pub fn project_store(cfg: &Config) -> Result<ProjectStore, clickhouse::ClientError> {
    Ok(ProjectStore::new(
        clickhouse::database(&cfg.clickhouse)?,
        cfg.registry.default_pending_limit,
    ))
}

/// Starts `parts`. The edge binds `cfg.listen` (port 0 picks a free port).
pub async fn start(cfg: &Config, parts: Parts) -> Result<Running, StartError> {
    cfg.kafka.security.check().map_err(StartError::Config)?;
    let pipelines = pipeline::load(cfg.pipelines_dir.as_deref())?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut running = Running {
        edge_addr: None,
        metrics_addr: None,
        shutdown,
        edge_task: None,
        ops_task: None,
        consumer_tasks: Vec::new(),
        producer: None,
        spool_tasks: None,
    };
    // A consumer-only process's /readyz: each worker's check and ClickHouse.
    let mut consumer_readiness = Readiness::default();
    // Bound before the consumers start: the port it holds is part of the
    // derived group instance id.
    let ops_listener = match cfg.consumer.metrics_listen {
        Some(addr) if parts.consumers && !parts.edge => bind_ops(addr).await,
        _ => None,
    };
    let instance_id = instance_id(cfg, ops_listener.as_ref().map(|(bound, _)| *bound));
    if let Some(id) = &instance_id {
        tracing::info!(instance_id = %id, "consumer group instance id (static membership)");
    }
    cfg.clickhouse.check().map_err(StartError::Config)?;
    if parts.consumers {
        let dead_letters = crate::bus::dead_letter::DeadLetters::new(&cfg.kafka)?;
        if !cfg.clickhouse.cluster.is_empty() {
            crate::sink::shards::verify(&cfg.clickhouse, false)
                .await
                .map_err(StartError::Config)?;
        }
        let targets = Arc::new(crate::sink::shards::Targets::new(&cfg.clickhouse)?);
        for p in &pipelines {
            let group = format!("{}-{}", cfg.kafka.group_prefix, p.name);
            let topic = format!("{}{}", cfg.kafka.topic_prefix, p.topic);
            let instance = instance_id.as_ref().map(|id| format!("{id}-{}", p.name));
            let ready = Check::new(format!("consumer {}", p.name), false);
            consumer_readiness.add(ready.clone());
            let worker = worker::Worker {
                pipeline: p.clone(),
                member: worker::Member {
                    kafka: cfg.kafka.clone(),
                    group_base: group,
                    topic,
                    instance,
                },
                db: clickhouse::database(&cfg.clickhouse)?,
                targets: targets.clone(),
                cluster: !cfg.clickhouse.cluster.is_empty(),
                dead_letters: dead_letters.clone(),
                cfg: cfg.consumer.clone(),
                ready,
            };
            running
                .consumer_tasks
                .push(tokio::spawn(worker::run(worker, shutdown_rx.clone())));
        }
    }
    if parts.consumers {
        for sweeper in crate::sink::retention::Sweeper::of(&cfg.clickhouse)? {
            tokio::spawn(sweeper.run(cfg.retention.clone(), shutdown_rx.clone()));
        }
        let reachable = Check::new("clickhouse", false);
        consumer_readiness.add(reachable.clone());
        tokio::spawn(watch_clickhouse(
            clickhouse::database(&cfg.clickhouse)?,
            reachable,
            shutdown_rx.clone(),
        ));
    }
    if let Some((bound, listener)) = ops_listener {
        let task = serve_ops(cfg, listener, consumer_readiness, shutdown_rx.clone());
        running.metrics_addr = Some(bound);
        running.ops_task = Some(task);
    }
    if parts.edge {
        let producer = Producer::new(&cfg.kafka)?;
        let spool = match &cfg.edge.spool_dir {
            Some(dir) => {
                let (spool, tasks) = Spool::open(
                    dir,
                    cfg.edge.spool_max_bytes,
                    Duration::from_millis(cfg.edge.spool_after_ms),
                    producer.clone(),
                    shutdown_rx.clone(),
                )?;
                running.spool_tasks = Some(tasks);
                Some(spool)
            }
            None => None,
        };
        let broker = Check::new("broker", true);
        tokio::spawn(watch_broker(
            producer.clone(),
            spool.clone(),
            broker.clone(),
            shutdown_rx.clone(),
        ));
        let mut readiness = Readiness::default();
        readiness.add(broker);
        if let Some(addr) = cfg.edge.ops_listen
            && let Some((bound, listener)) = bind_ops(addr).await
        {
            let task = serve_ops(cfg, listener, readiness.clone(), shutdown_rx.clone());
            running.metrics_addr = Some(bound);
            running.ops_task = Some(task);
        }
        let app = edge_app(cfg, &pipelines, producer.clone(), spool, readiness)?;
        tokio::spawn(
            crate::edge::rate_sync::RateSync::new(
                clickhouse::database(&cfg.clickhouse)?,
                app.edge.rate_limiter.clone(),
            )
            .run(
                Duration::from_millis(cfg.edge.rate_limit_sync_ms),
                shutdown_rx.clone(),
            ),
        );
        let router = app::edge_router(app, &pipelines, &cfg.kafka.topic_prefix);
        let listener = TcpListener::bind(cfg.listen).await?;
        running.edge_addr = Some(listener.local_addr()?);
        let mut stop = shutdown_rx.clone();
        let limits = crate::serve::Limits::from_config(&cfg.edge);
        running.edge_task = Some(tokio::spawn(crate::serve::serve(
            listener,
            router,
            limits,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
        running.producer = Some(producer);
    }
    Ok(running)
}

/// The edge's states. One key store (and cache) serves ingest, admin and
/// query, so a revocation made here takes effect at once in this process.
fn edge_app(
    cfg: &Config,
    pipelines: &[Pipeline],
    producer: Producer,
    spool: Option<Spool>,
    readiness: Readiness,
) -> Result<EdgeApp, clickhouse::ClientError> {
    let keys = key_store(cfg)?;
    let projects = project_store(cfg)?;
    let admission = Admission::new(
        projects.clone(),
        Duration::from_millis(cfg.registry.cache_ttl_ms),
        Duration::from_millis(cfg.registry.stale_grace_ms),
    );
    Ok(EdgeApp {
        admin: Arc::new(AdminState {
            keys: keys.clone(),
            projects: projects.clone(),
            admission: admission.clone(),
            ceilings: Ceilings {
                max_pending_limit: cfg.registry.max_pending_limit,
                max_projects: cfg.registry.max_projects_per_org,
            },
            policies: PolicyStore::new(clickhouse::database(&cfg.clickhouse)?),
            endpoints: pipelines
                .iter()
                .map(|p| (p.table.clone(), p.route.clone()))
                .collect(),
        }),
        query: Arc::new(QueryState {
            keys: keys.clone(),
            projects,
            db: clickhouse::database(&cfg.clickhouse)?,
            slots: crate::control::query::OrgSlots::new(cfg.query.max_concurrent_per_org),
        }),
        edge: Arc::new(EdgeState {
            keys,
            admission,
            rate_limiter: Default::default(),
            hot: edge::hot::HotRouter::new(
                cfg.edge.hot_project_rows_per_second,
                cfg.edge.hot_project_spread,
            ),
            producer,
            spool,
            in_flight: Semaphore::new(cfg.edge.max_concurrent_requests),
            max_body_bytes: cfg.edge.max_body_bytes,
            body_budget: edge::budget::BodyBudget::new(
                cfg.edge.max_inflight_body_bytes,
                cfg.edge.max_inflight_body_share,
            ),
            decode_budget: edge::budget::BodyBudget::new(cfg.edge.max_inflight_body_bytes, 1.0),
            body_timeout: Duration::from_millis(cfg.edge.request_timeout_ms),
            redactors: edge::redactors::Redactors::new(PolicyStore::new(clickhouse::database(
                &cfg.clickhouse,
            )?)),
        }),
        readiness,
    })
}

/// Binds an operator listener; a taken port is logged, not fatal (ingest
/// and the consumers matter more).
async fn bind_ops(addr: SocketAddr) -> Option<(SocketAddr, TcpListener)> {
    let bound = TcpListener::bind(addr)
        .await
        .and_then(|listener| Ok((listener.local_addr()?, listener)));
    match bound {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::warn!(%addr, error = %e, "operator listener (/metrics) not started");
            None
        }
    }
}

/// This consumer process's group instance id: `consumer.instance_id` when
/// set (empty: none), otherwise `<host name>:<port>` of the ops listener
/// this process holds, when its port was fixed (not 0). Holding the port
/// makes the derived id unique on the host, and a restart with the same
/// settings gets it back. `None`: dynamic membership.
fn instance_id(cfg: &Config, ops: Option<SocketAddr>) -> Option<String> {
    if let Some(id) = &cfg.consumer.instance_id {
        return (!id.is_empty()).then(|| id.clone());
    }
    let fixed = cfg.consumer.metrics_listen.filter(|a| a.port() != 0)?;
    let held = ops.filter(|bound| bound.port() == fixed.port())?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())?;
    Some(format!("{host}:{}", held.port()))
}

/// Serves `/metrics`, `/healthz` and `/readyz` on the operator listener.
fn serve_ops(
    cfg: &Config,
    listener: TcpListener,
    readiness: Readiness,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "operator listener (/metrics, /healthz, /readyz)");
    }
    tokio::spawn(crate::serve::serve(
        listener,
        app::ops_router(readiness),
        crate::serve::Limits::from_config(&cfg.edge),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ))
}

/// Keeps `broker` equal to "the broker answers metadata requests, or the
/// spool has room for what it does not take".
async fn watch_broker(
    producer: Producer,
    spool: Option<Spool>,
    broker: Check,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut was = true;
    loop {
        let reachable = tokio::select! {
            reachable = producer.reachable(Duration::from_secs(2)) => reachable,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if was != reachable {
            tracing::warn!(
                reachable,
                spool = spool.is_some(),
                "broker reachability changed"
            );
            was = reachable;
        }
        broker.set(reachable || spool.as_ref().is_some_and(Spool::has_room));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Keeps `reachable` equal to "ClickHouse answers `SELECT 1` within 2 s".
async fn watch_clickhouse(
    db: ::clickhouse::Client,
    reachable: Check,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let answered = matches!(
            tokio::time::timeout(Duration::from_secs(2), db.query("SELECT 1").execute()).await,
            Ok(Ok(()))
        );
        if reachable.set(answered) != answered {
            tracing::warn!(reachable = answered, "clickhouse reachability changed");
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
        if let Some(tasks) = self.spool_tasks.take() {
            tasks.stopped(Duration::from_secs(10)).await;
        }
        for task in self.consumer_tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(ops) = self.ops_task.take() {
            let _ = ops.await;
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
