//! The edge: Raindrop's ingest HTTP API in front of Kafka.
//!
//! A request goes auth → project header → body → validate+encode →
//! admission (project check, rate limit) → publish, and is
//! answered 204 only after Kafka acknowledged every record (acks=all), or,
//! with a spool (`edge.spool_dir`), after they are fsync'd to it. Any
//! refusal is a 4xx naming the item and field; a broker that cannot take the
//! records (and no spool with room) is a 503 with `Retry-After`, never a 204.

pub mod budget;
pub mod hot;
mod ingest;
pub mod openapi;
pub mod otlp;
pub mod project;
pub mod rate_limit;
pub mod rate_sync;
pub mod redactors;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use tokio::sync::Semaphore;
use utoipa_axum::router::OpenApiRouter;

use crate::bus::producer::Producer;
use crate::pipeline::{Limits, Pipeline, StreamKind};
use crate::registry::admission::Admission;
use crate::registry::keys::KeyStore;
use crate::telemetry::catalogue::{Counter, Histogram};

/// What every ingest request shares.
pub struct EdgeState {
    /// Key lookup.
    pub keys: KeyStore,
    /// The project check (the ingest table, docs/CONTRACT.md §C3).
    pub admission: Admission,
    /// Per-project request counters (`rate_limit_rpm`), shared with the
    /// exchange of counts between edges ([`rate_sync`]).
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
    /// Record keys: a hot project's spread over partitions.
    pub hot: hot::HotRouter,
    /// Kafka producer.
    pub producer: Producer,
    /// Where records go when the broker cannot take them (`edge.spool_dir`).
    pub spool: Option<crate::bus::spool::Spool>,
    /// Bounds requests in flight; beyond it the edge answers 503.
    pub in_flight: Semaphore,
    /// Largest body.
    pub max_body_bytes: usize,
    /// Memory for bodies in flight (`edge.max_inflight_body_bytes`).
    pub body_budget: budget::BodyBudget,
    /// Memory for OTLP messages being decoded (`src/edge/otlp/`), as large
    /// as `edge.max_inflight_body_bytes`; held only while decoding.
    pub decode_budget: budget::BodyBudget,
    /// Deadline for receiving a whole body.
    pub body_timeout: Duration,
    /// The compiled redaction policies (docs/CONTRACT.md §C23).
    pub redactors: redactors::Redactors,
}

/// One ingest route, from a pipeline definition.
pub struct Route {
    /// Validator and row layout.
    pub kind: StreamKind,
    /// Request limits.
    pub limits: Limits,
    /// Full topic name.
    pub topic: String,
    /// This route's metrics, registered once: looking a labelled metric up
    /// per request was a visible share of a one-event request's cost.
    pub metrics: RouteMetrics,
}

/// Handles of one ingest route's per-request metrics.
pub struct RouteMetrics {
    /// [`Counter::EdgeRequests`] with `status="204"`.
    pub accepted: metrics::Counter,
    /// [`Counter::EdgeItems`].
    pub items: metrics::Counter,
    /// [`Histogram::EdgeRequestSeconds`].
    pub seconds: metrics::Histogram,
}

impl RouteMetrics {
    fn new(stream: &'static str) -> RouteMetrics {
        // Handles taken before the recorder exists would be no-ops.
        let _ = crate::telemetry::metrics_handle();
        RouteMetrics {
            accepted: Counter::edge_requests(stream, "204"),
            items: Counter::edge_items(stream),
            seconds: Histogram::edge_request_seconds(stream),
        }
    }
}

/// The ingest routes of `pipelines`, each documented by [`openapi::route`]
/// from its pipeline.
pub fn router(state: Arc<EdgeState>, pipelines: &[Pipeline], topic_prefix: &str) -> OpenApiRouter {
    let mut router = OpenApiRouter::new();
    for p in pipelines {
        let route = Arc::new(Route {
            kind: p.kind,
            limits: p.limits.clone(),
            topic: format!("{topic_prefix}{}", p.topic),
            metrics: RouteMetrics::new(p.kind.name()),
        });
        let state = state.clone();
        let methods = post(move |request| ingest::handle(state.clone(), route.clone(), request))
            // The CORS layer answers every OPTIONS itself (200, as a
            // preflight), so this answer is not reached today. Without an
            // OPTIONS route here the router's method-not-allowed fallback
            // answers it, outside the layer.
            .options(|| async { axum::http::StatusCode::NO_CONTENT });
        router = router.routes(openapi::route(p, methods));
    }
    router.layer(crate::http::cors::ingest())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;
    use crate::http::served::assert_served_as_documented;
    use crate::registry::lookups::LookupBudget;

    /// An edge whose broker and stores are never reached: every probe
    /// lacks a key (401) or is a preflight.
    pub(crate) fn state() -> Arc<EdgeState> {
        let mut kafka = Config::default().kafka;
        kafka.brokers = "127.0.0.1:1".into();
        let db = clickhouse::Client::default();
        let projects = crate::registry::projects::ProjectStore::new(db.clone(), 50);
        let ttl = Duration::from_secs(5);
        Arc::new(EdgeState {
            keys: KeyStore::new(db, ttl, ttl, ttl, LookupBudget::new(10)),
            admission: Admission::new(projects, ttl, ttl),
            redactors: redactors::Redactors::new(crate::registry::policies::PolicyStore::new(
                clickhouse::Client::default(),
            )),
            rate_limiter: Default::default(),
            hot: hot::HotRouter::new(0, 1),
            producer: Producer::new(&kafka).expect("producer"),
            spool: None,
            in_flight: Semaphore::new(8),
            max_body_bytes: 1 << 20,
            body_budget: budget::BodyBudget::new(1 << 24, 1.0),
            decode_budget: budget::BodyBudget::new(1 << 24, 1.0),
            body_timeout: Duration::from_secs(5),
        })
    }

    #[tokio::test]
    async fn every_pipeline_route_is_served_as_documented() {
        let pipelines = crate::pipeline::load(None).expect("built-in pipelines");
        let expected: Vec<(&str, &[&str])> = pipelines
            .iter()
            .map(|p| (p.route.as_str(), &["POST", "OPTIONS"][..]))
            .collect();
        assert_served_as_documented(router(state(), &pipelines, "t."), &expected).await;
    }
}
