//! The operator's endpoints: `/healthz` (the process answers), `/readyz`
//! (every part of this process can do its job) and `/metrics` (Prometheus).
//! `/metrics` is served only on the operator listener (`edge.ops_listen`,
//! `consumer.metrics_listen`); the public port has health and readiness.
//!
//! Readiness is a set of named checks, each a flag its owner keeps true
//! while it can serve (the edge: the broker answers; a consumer: it holds an
//! assignment and makes progress, ClickHouse answers). `/readyz` is 200 only
//! when every check holds, and otherwise names the ones that fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::http::ApiError;

/// One readiness check: a name and the flag its owner keeps current.
#[derive(Debug, Clone)]
pub struct Check {
    name: Arc<str>,
    ok: Arc<AtomicBool>,
}

impl Check {
    /// A check named `name`, starting as `ok`.
    pub fn new(name: impl Into<Arc<str>>, ok: bool) -> Check {
        Check {
            name: name.into(),
            ok: Arc::new(AtomicBool::new(ok)),
        }
    }

    /// Records whether the part can serve; returns the previous value.
    pub fn set(&self, ok: bool) -> bool {
        self.ok.swap(ok, Ordering::Relaxed)
    }

    /// Whether the part can serve.
    pub fn ok(&self) -> bool {
        self.ok.load(Ordering::Relaxed)
    }

    /// Its name in `/readyz`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Every check of this process.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    checks: Vec<Check>,
}

impl Readiness {
    /// Adds a check.
    pub fn add(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// The names of the checks that fail now.
    pub fn failing(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.ok())
            .map(Check::name)
            .collect()
    }
}

/// `/healthz` and `/readyz`: also on the public port, for load balancers.
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let failing = readiness.failing();
                // 503 in the JSON error body, naming the failing checks.
                let answer = if failing.is_empty() {
                    (StatusCode::OK, "ready").into_response()
                } else {
                    ApiError::unavailable(format!("not ready: {}", failing.join(", ")))
                        .into_response()
                };
                async move { answer }
            }),
        )
}

/// The operator listener's routes: health, readiness and `/metrics`
/// (only here, never on the public port: it tells load and versions).
pub fn router(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    health_router(readiness).route(
        "/metrics",
        get(move || {
            crate::telemetry::record_process_metrics();
            let text = metrics.render();
            async move { text }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_holds() {
        let mut readiness = Readiness::default();
        let broker = Check::new("broker", true);
        let consumer = Check::new("consumer events", false);
        readiness.add(broker.clone());
        readiness.add(consumer.clone());
        assert_eq!(readiness.failing(), vec!["consumer events"]);
        consumer.set(true);
        assert!(readiness.failing().is_empty());
        broker.set(false);
        assert_eq!(readiness.failing(), vec!["broker"]);
    }
}
