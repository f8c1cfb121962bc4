//! The OpenAPI 3.1 document of the public port, served at `GET
//! /openapi.json`, generated from the code:
//! - each handler's `#[utoipa::path]` and the types it answers with
//!   (`ToSchema`), registered in the router by `utoipa_axum::routes!` from
//!   that same attribute, so a documented route is a served one;
//! - the ingest routes from `pipelines/` (`edge::openapi`);
//! - the Query API's query parameters from the lists its parser enforces
//!   (`control::query`).
//!
//! This module holds what those parts share: the error answers, the
//! `X-Raindrop-Project-Id` header, the bearer scheme and the serving.
//! Invariant: built once at start; serving it costs a clone of its bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::openapi::path::{Operation, Parameter};
use utoipa::openapi::{OpenApi, RefOr, Response, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::error::{ErrorBody, QueryErrorBody};

/// The routes anyone may call (no key): health, readiness, this document,
/// and the dashboard's page and assets (the page asks for a key itself).
const PUBLIC: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/dashboard",
    "/dashboard/app.js",
    "/dashboard/app.css",
];

/// The document as served.
#[derive(Clone)]
pub struct Document(pub Bytes);

/// This document, as JSON.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    summary = "This OpenAPI 3.1 document.",
    responses((status = 200, description = "The document.", content_type = "application/json")))]
pub async fn document(State(doc): State<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0)
}

/// This module's own route, documented.
#[derive(utoipa::OpenApi)]
#[openapi(paths(document))]
pub struct OwnRoutes;

/// `doc` finished: title, version, the bearer scheme on every route but
/// [`PUBLIC`] ones (and operations that declare their own security), and
/// the error bodies as components; as served bytes.
pub fn finish(mut doc: OpenApi) -> Document {
    doc.info.title = "downpour".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "Raindrop-compatible ingest (events, signals, users, partial events, OTLP traces), \
         the projects and keys admin API, and the Raindrop Query API, one project at a time."
            .into(),
    );
    let components = doc.components.get_or_insert_with(Default::default);
    if let Some(scheme) = from_json(json!({"type": "http", "scheme": "bearer",
        "description": "A write key (ingest) or an owner, admin or member key (admin, query)."}))
    {
        components.security_schemes.insert("bearer".into(), scheme);
    }
    // The bodies and the schemas they refer to (`ErrorDetail`, ...).
    let mut errors = vec![
        (ErrorBody::name().into(), ErrorBody::schema()),
        (QueryErrorBody::name().into(), QueryErrorBody::schema()),
    ];
    ErrorBody::schemas(&mut errors);
    QueryErrorBody::schemas(&mut errors);
    components.schemas.extend(errors);
    for (path, item) in doc.paths.paths.iter_mut() {
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        for op in operations(item) {
            // An operation may declare its own: `[]` is "no key" (a CORS
            // preflight).
            if op.security.is_some() {
                continue;
            }
            if let Some(security) = from_json(json!({"bearer": []})) {
                op.security = Some(vec![security]);
            }
        }
    }
    Document(serde_json::to_vec(&doc).unwrap_or_default().into())
}

/// The operations of a path item, whatever their method.
pub fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .collect()
}

/// `X-Raindrop-Project-Id`: the project (`default` when absent).
pub fn project_header() -> Option<Parameter> {
    from_json(json!({
        "name": "X-Raindrop-Project-Id",
        "in": "header",
        "required": false,
        "description": "The project's slug; unset, empty or `default` is the default project.",
        "schema": {"type": "string", "maxLength": 63},
    }))
}

/// A required path parameter.
pub fn path_parameter(name: &str, description: &str) -> Option<Parameter> {
    from_json(json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string"},
    }))
}

/// An optional query parameter with `schema` (a JSON Schema); `deep` for
/// the deepObject style (`name[op]=value`).
pub fn query_parameter(name: &str, schema: Value, deep: bool) -> Option<Parameter> {
    let mut p = json!({"name": name, "in": "query", "required": false, "schema": schema});
    if deep {
        p["style"] = json!("deepObject");
        p["explode"] = json!(true);
    }
    from_json(p)
}

/// What each error status means on every route.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => "Malformed input; the body names the item and field.",
        401 => "No key, or an unknown or revoked one.",
        403 => "The key may not do this, or the project is not readable or writable.",
        404 => "Not in this project.",
        408 => "The body was not received in time.",
        409 => "Conflicts with the project's state.",
        413 => "The body is over the limit.",
        415 => "Unsupported Content-Type or Content-Encoding.",
        429 => "Too many requests; retry after `Retry-After` seconds.",
        _ => "Unavailable; retry after `Retry-After` seconds.",
    }
}

/// Adds the Query API's error answers (its body) for `statuses`.
pub fn query_errors(op: &mut Operation, statuses: &[u16]) {
    errors(op, statuses, QueryErrorBody::name().as_ref());
}

/// Adds the ingest and admin error answers (their body) for `statuses`.
pub fn api_errors(op: &mut Operation, statuses: &[u16]) {
    errors(op, statuses, ErrorBody::name().as_ref());
}

fn errors(op: &mut Operation, statuses: &[u16], body: &str) {
    for &status in statuses {
        let response: Option<Response> = from_json(json!({
            "description": meaning(status),
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        }));
        if let Some(r) = response {
            op.responses
                .responses
                .insert(status.to_string(), RefOr::T(r));
        }
    }
}

/// A schema written as JSON.
pub fn schema(value: Value) -> Option<RefOr<Schema>> {
    from_json(value)
}

/// An OpenAPI object from its JSON; `None` (and a log line) if utoipa's
/// types cannot hold it, which the unit tests rule out for every caller.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Option<T> {
    serde_json::from_value(value)
        .map_err(|e| tracing::error!(error = %e, "OpenAPI object does not parse"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_pieces_parse() {
        assert!(project_header().is_some());
        assert!(path_parameter("id", "the id").is_some());
        assert!(query_parameter("limit", json!({"type": "integer"}), false).is_some());
        assert!(query_parameter("t", json!({"type": "object"}), true).is_some());
        let mut op = Operation::default();
        query_errors(&mut op, &[400, 503]);
        api_errors(&mut op, &[401]);
        assert_eq!(op.responses.responses.len(), 3);
        let doc = finish(OpenApi::default());
        let v: Value = serde_json::from_slice(&doc.0).expect("JSON");
        assert_eq!(v["openapi"].as_str().map(|s| &s[..3]), Some("3.1"));
        assert!(
            v["components"]["schemas"]["QueryErrorBody"].is_object(),
            "{v}"
        );
        assert_eq!(
            v["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
