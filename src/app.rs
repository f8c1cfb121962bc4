//! The HTTP application of a process, assembled in one place: which routes
//! it serves and the error path around them. `runtime` builds the states
//! and calls these; nothing else assembles a router.
//!
//! Invariant: every router leaves through [`with_json_errors`], so every
//! error answer of every route carries the JSON error body.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::control::ops::{self, Readiness};
use crate::control::projects::AdminState;
use crate::control::query::QueryState;
use crate::control::{dashboard, keys, org, policies, projects, query};
use crate::edge::{self, EdgeState};
use crate::http::fallback::with_json_errors;
use crate::http::openapi;
use crate::pipeline::Pipeline;

/// The states the edge process's routes share.
pub struct EdgeApp {
    /// Ingest.
    pub edge: Arc<EdgeState>,
    /// The projects and keys admin APIs.
    pub admin: Arc<AdminState>,
    /// The Query API.
    pub query: Arc<QueryState>,
    /// What `/readyz` reports.
    pub readiness: Readiness,
}

/// Every public route of an edge process: ingest (one per pipeline), admin,
/// keys, org, query, the dashboard, health and readiness (`/metrics` is on
/// [`ops_router`]).
///
/// Every route is documented in the OpenAPI document served at
/// `/openapi.json` (`http::openapi`): each part's router is an
/// `OpenApiRouter` whose routes come from their documentation.
pub fn edge_router(app: EdgeApp, pipelines: &[Pipeline], topic_prefix: &str) -> Router {
    let (router, mut doc) = OpenApiRouter::new()
        .merge(edge::router(app.edge, pipelines, topic_prefix))
        .merge(ops::health_router(app.readiness))
        .merge(projects::router(app.admin.clone()))
        .merge(keys::router(app.admin.clone()))
        .merge(org::router(app.admin.clone()))
        .merge(policies::router(app.admin))
        .merge(query::router(app.query))
        .merge(dashboard::router())
        .split_for_parts();
    doc.merge(openapi::OwnRoutes::openapi());
    let document = openapi::finish(doc);
    let router = router.route("/openapi.json", get(openapi::document).with_state(document));
    with_json_errors(router)
}

/// The operator listener: health, readiness and `/metrics`.
pub fn ops_router(readiness: Readiness) -> Router {
    with_json_errors(ops::router(readiness, crate::telemetry::metrics_handle()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use hyper::service::Service as _;
    use serde_json::Value;

    use super::*;

    fn query_state(admin: &AdminState) -> Arc<QueryState> {
        Arc::new(QueryState {
            keys: admin.keys.clone(),
            projects: admin.projects.clone(),
            db: clickhouse::Client::default(),
            slots: query::OrgSlots::new(4),
        })
    }

    /// Merging keeps the first schema of a name and drops the others: no
    /// two parts may register different schemas under one name.
    #[tokio::test]
    async fn no_two_parts_share_a_schema_name() {
        let pipelines = crate::pipeline::load(None).expect("pipelines");
        let admin = crate::control::projects::tests::state();
        let parts = [
            edge::router(edge::tests::state(), &pipelines, "t.").into_openapi(),
            ops::health_router(Readiness::default()).into_openapi(),
            projects::router(admin.clone()).into_openapi(),
            keys::router(admin.clone()).into_openapi(),
            org::router(admin.clone()).into_openapi(),
            policies::router(admin.clone()).into_openapi(),
            dashboard::router().into_openapi(),
            query::router(query_state(&admin)).into_openapi(),
        ];
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for doc in parts {
            for (name, schema) in doc.components.map(|c| c.schemas).unwrap_or_default() {
                let schema = serde_json::to_value(&schema).expect("JSON");
                if let Some(first) = seen.insert(name.clone(), schema.clone()) {
                    assert_eq!(first, schema, "two schemas named {name}");
                }
            }
        }
    }

    #[tokio::test]
    async fn the_served_document_is_whole() {
        let pipelines = crate::pipeline::load(None).expect("pipelines");
        let admin = crate::control::projects::tests::state();
        let app = EdgeApp {
            edge: edge::tests::state(),
            query: query_state(&admin),
            admin,
            readiness: Readiness::default(),
        };
        let router = edge_router(app, &pipelines, "t.");
        let request = Request::get("/openapi.json")
            .body(Body::empty())
            .expect("request");
        let service = hyper_util::service::TowerToHyperService::new(router);
        let response = service.call(request).await.expect("answer");
        let body = response.into_body().collect().await.expect("body");
        let doc: Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
        let mut found = Vec::new();
        crate::http::served::refs(&doc, &mut found);
        for r in found {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(doc["components"]["schemas"][name].is_object(), "{r}");
        }
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{method} {path}: operationId");
                ids.push(id.to_string());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
        for path in [
            "/v1/events/track",
            "/v1/projects",
            "/v1/keys",
            "/v1/me",
            "/dashboard",
            "/healthz",
            "/readyz",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        let track = &doc["paths"]["/v1/events/track"];
        assert!(track["get"].is_null(), "the query alias is not documented");
        assert_eq!(track["options"]["security"], serde_json::json!([]));
        assert_eq!(
            track["post"]["security"],
            serde_json::json!([{"bearer": []}])
        );
        assert!(doc["paths"]["/v1/traces"]["get"].is_object());
        assert!(doc["paths"]["/v1/traces"]["post"].is_object());
    }
}
