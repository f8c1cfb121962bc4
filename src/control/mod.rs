//! The control plane served beside the ingest routes: liveness, readiness
//! (false while the broker is unreachable), Prometheus metrics, and the
//! projects admin API (`projects`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

pub mod auth;
pub mod keys;
pub mod projects;
pub mod query;

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(ready: Arc<AtomicBool>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                crate::telemetry::record_process_metrics();
                let text = metrics.render();
                async move { text }
            }),
        )
}
