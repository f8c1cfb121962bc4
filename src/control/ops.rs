//! The operator's endpoints: `/healthz` (the process answers), `/readyz`
//! (every part of this process can do its job) and `/metrics` (Prometheus).
//! `/metrics` is served only on the operator listener (`edge.ops_listen`,
//! `consumer.metrics_listen`); the public port has health and readiness.
//!
//! Readiness is a set of named checks, each a flag its owner keeps true
//! while it can serve (the edge: the broker answers; a consumer: it holds an
//! assignment and makes progress, ClickHouse answers). `/readyz` is 200 only
//! when every check holds, and otherwise names the ones that fail.
//!
//! On the public port both are in the OpenAPI document ([`health_router`]);
//! the operator listener ([`router`]) serves the same handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::error::ErrorBody;

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

/// `/healthz` and `/readyz`, documented: also on the public port, for load
/// balancers.
pub fn health_router(readiness: Readiness) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .with_state(readiness)
}

/// The operator listener's routes: health, readiness and `/metrics`
/// (only here, never on the public port: it tells load and versions), on
/// the same handlers as [`health_router`]; not in the OpenAPI document,
/// which describes the public port.
pub fn router(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
        .route(
            "/metrics",
            get(move || {
                crate::telemetry::record_process_metrics();
                let text = metrics.render();
                async move { text }
            }),
        )
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    summary = "Liveness: the process answers.",
    responses((status = 200, description = "`ok`.", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Every check holds: 200; otherwise 503 naming the failing ones.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    summary = "Readiness: every part of this process can do its job.",
    responses(
        (status = 200, description = "`ready`.", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready; the message names the failing checks.",
            body = ErrorBody),
    ))]
async fn readyz(State(readiness): State<Readiness>) -> Response {
    let failing = readiness.failing();
    // 503 in the JSON error body, naming the failing checks.
    if failing.is_empty() {
        (StatusCode::OK, "ready").into_response()
    } else {
        ApiError::unavailable(format!("not ready: {}", failing.join(", "))).into_response()
    }
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

    #[tokio::test]
    async fn health_routes_are_served_as_documented() {
        crate::http::served::assert_served_as_documented(
            health_router(Readiness::default()),
            &[("/healthz", &["GET"]), ("/readyz", &["GET"])],
        )
        .await;
    }
}
