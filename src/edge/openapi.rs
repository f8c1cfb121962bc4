//! The OpenAPI documentation of the ingest routes.
//!
//! Those routes come from `pipelines/*.toml` at run time (one per pipeline:
//! its `route` and `kind`), so they cannot be declared with
//! `#[utoipa::path]`. [`route`] builds a route's path item from its
//! pipeline and hands it back with the route's `MethodRouter`, as the
//! `UtoipaMethodRouter` tuple `OpenApiRouter::routes` registers in the
//! router and the document at once.
//!
//! Invariants:
//! - Served is documented: each route is registered only through [`route`],
//!   whose path item documents POST and OPTIONS, the methods `edge::router`
//!   serves (its test checks both ways). The path item is registered even
//!   if a piece of it fails to build (logged; the tests rule it out), so a
//!   route is never left unserved because of its documentation.
//! - The item schemas (`items`) are doc-only: the edge's own parsers
//!   (`src/edge/validate/`, `src/edge/otlp/`) stay authoritative.

mod items;
#[cfg(test)]
mod tests;

pub use items::{
    AiData, AttachmentRole, AttachmentType, EventAttachment, EventItem, IdentifyItem,
    PartialEventItem, SignalItem, SignalSentiment,
};

use axum::routing::MethodRouter;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, Paths};
use utoipa::openapi::{PathItem, RefOr, Schema};
use utoipa_axum::router::UtoipaMethodRouter;

use crate::http::openapi;
use crate::pipeline::{Pipeline, StreamKind};

// Answered by `ingest::ids_answer`.
/// The event ids of a request's items, in item order: the answer to a
/// browser caller (one that sent `Origin`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventIds<'a> {
    /// One per item, in item order.
    pub events: Vec<EventId<'a>>,
}

/// An item's event id, as given or assigned by the edge.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventId<'a> {
    /// The event id.
    pub event_id: &'a str,
}

/// The error statuses of every ingest route (README.md, "The HTTP API";
/// docs/CONTRACT.md §C2, §C3, §C16): 400 malformed body or header, 401
/// key, 403 project or origin refused, 408 body not received in time, 413
/// body or item too large, 415 `Content-Type` (or, for OTLP,
/// `Content-Encoding`), 429 the project's rate limit or too many unknown
/// keys, 503 the broker, the registry or the edge's memory for bodies.
/// (431, headers too large, is answered by the server before any route.)
pub const ERRORS: [u16; 8] = [400, 401, 403, 408, 413, 415, 429, 503];

/// The route of pipeline `p`, served by `methods` (its POST and OPTIONS),
/// with its documentation and the schemas that documentation refers to.
pub fn route<S>(p: &Pipeline, methods: MethodRouter<S>) -> UtoipaMethodRouter<S> {
    let (schemas, item) = path_item(p);
    let mut paths = Paths::new();
    paths.paths.insert(p.route.clone(), item);
    (schemas, paths, methods)
}

/// The path item of pipeline `p`: its POST and OPTIONS operations.
pub fn path_item(p: &Pipeline) -> (Vec<(String, RefOr<Schema>)>, PathItem) {
    let schemas = schemas(p.kind);
    let mut item = PathItem::default();
    item.post = Some(ingest(p));
    item.options = openapi::from_json(json!({
        "tags": ["ingest"],
        "operationId": format!("preflight_{}", p.name),
        "summary": "CORS preflight: browsers may call this route from any origin.",
        "responses": {"200": {
            "description": "Any OPTIONS, answered by the CORS layer before any key check: \
                            `Access-Control-Allow-Origin` (the request's `Origin`), \
                            `-Allow-Methods` (POST, OPTIONS), `-Allow-Headers` (those asked \
                            for), `-Max-Age` (600); no body.",
        }},
        "security": [],
    }));
    (schemas, item)
}

/// The POST operation of pipeline `p`.
fn ingest(p: &Pipeline) -> Operation {
    let mut op: Operation = openapi::from_json(json!({
        "tags": ["ingest"],
        "operationId": format!("ingest_{}", p.name),
        "summary": summary(p.kind),
        "requestBody": request_body(p),
        "responses": responses(p.kind),
    }))
    .unwrap_or_default();
    let mut parameters = vec![openapi::project_header()];
    if p.kind == StreamKind::Spans {
        parameters.push(openapi::from_json(json!({
            "name": "Content-Encoding", "in": "header", "required": false,
            "description": "The body's compression; the size limit applies to the decompressed \
                            bytes.",
            "schema": {"type": "string", "enum": ["gzip", "x-gzip", "deflate", "identity"]},
        })));
    }
    op.parameters = Some(parameters.into_iter().flatten().map(RefOr::T).collect());
    openapi::api_errors(&mut op, &ERRORS);
    for status in ["429", "503"] {
        if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status)
            && let Some(header) = openapi::from_json(json!({
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer"},
            }))
        {
            response.headers.insert("Retry-After".into(), header);
        }
    }
    op
}

fn summary(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Events => "Tracks events: AI interactions and other user actions.",
        StreamKind::Signals => "Tracks signals (feedback, edits, ...) on events.",
        StreamKind::Users => "Identifies users: their traits.",
        StreamKind::PartialEvents => "Tracks an event in patches, shown once it is complete.",
        StreamKind::Spans => "Receives OpenTelemetry traces (OTLP/HTTP).",
    }
}

/// The item schema of a JSON stream.
fn item_name(kind: StreamKind) -> Option<std::borrow::Cow<'static, str>> {
    match kind {
        StreamKind::Events => Some(EventItem::name()),
        StreamKind::Signals => Some(SignalItem::name()),
        StreamKind::Users => Some(IdentifyItem::name()),
        StreamKind::PartialEvents => Some(PartialEventItem::name()),
        StreamKind::Spans => None,
    }
}

/// The components the documentation of `kind` refers to.
fn schemas(kind: StreamKind) -> Vec<(String, RefOr<Schema>)> {
    fn with<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push((T::name().into(), T::schema()));
        T::schemas(out);
    }
    let mut out = Vec::new();
    match kind {
        StreamKind::Events => with::<EventItem>(&mut out),
        StreamKind::Signals => with::<SignalItem>(&mut out),
        StreamKind::Users => with::<IdentifyItem>(&mut out),
        StreamKind::PartialEvents => with::<PartialEventItem>(&mut out),
        StreamKind::Spans => {
            let otlp = [
                ("ExportTraceServiceRequest", otlp_request()),
                ("ExportTraceServiceResponse", otlp_response()),
            ];
            for (name, schema) in otlp {
                if let Some(schema) = openapi::schema(schema) {
                    out.push((name.into(), schema));
                }
            }
        }
    }
    if matches!(kind, StreamKind::Events | StreamKind::PartialEvents) {
        with::<EventIds>(&mut out);
    }
    out
}

fn request_body(p: &Pipeline) -> Value {
    let Some(item) = item_name(p.kind) else {
        return json!({
            "required": true,
            "description": format!(
                "An OTLP `ExportTraceServiceRequest`, protobuf or JSON (the specification's \
                 lowerCamelCase, hex ids, 64-bit integers as strings; also snake_case keys, \
                 base64 ids, numbers, enums by name). At most 2 MiB of protobuf or 1 MiB of \
                 JSON once decompressed, and {} spans.",
                p.limits.max_items
            ),
            "content": {
                "application/x-protobuf": {"schema": protobuf("ExportTraceServiceRequest")},
                "application/json": {"schema": reference("ExportTraceServiceRequest")},
            },
        });
    };
    let schema = json!({"oneOf": [
        {"type": "array", "items": reference(&item), "minItems": 1, "maxItems": p.limits.max_items},
        reference(&item),
    ]});
    json!({
        "required": true,
        "description": format!(
            "An array of 1 to {} items, or one item. A request is accepted or refused whole; \
             `text/plain` (what browsers send without a preflight) and no `Content-Type` are \
             read as JSON too.",
            p.limits.max_items
        ),
        "content": {
            "application/json": {"schema": schema},
            "text/plain": {"schema": schema},
        },
    })
}

fn responses(kind: StreamKind) -> Value {
    let rate_headers = json!({
        "X-RateLimit-Limit": {"description": "The project's `rate_limit_rpm`, when it has one.",
            "schema": {"type": "integer"}},
        "X-RateLimit-Remaining": {"description": "Requests left in this minute.",
            "schema": {"type": "integer"}},
        "X-RateLimit-Reset": {"description": "Unix time the minute ends.",
            "schema": {"type": "integer"}},
    });
    match kind {
        StreamKind::Spans => json!({"200": {
            "description": "Every storable span is durable in Kafka; the answer, in the \
                            request's encoding, counts the spans left out in `partialSuccess`.",
            "headers": rate_headers,
            "content": {
                "application/x-protobuf": {"schema": protobuf("ExportTraceServiceResponse")},
                "application/json": {"schema": reference("ExportTraceServiceResponse")},
            },
        }}),
        StreamKind::Events | StreamKind::PartialEvents => json!({
            "200": {
                "description": "For a caller that sent `Origin` (a browser): durable in Kafka, \
                                and the event ids, given or assigned, in item order.",
                "headers": rate_headers,
                "content": {"application/json": {"schema": reference(&EventIds::name())}},
            },
            "204": {"description": "Every item is durable in Kafka (acks=all).",
                "headers": rate_headers},
        }),
        StreamKind::Signals | StreamKind::Users => json!({
            "204": {"description": "Every item is durable in Kafka (acks=all).",
                "headers": rate_headers},
        }),
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A binary protobuf body holding message `message`.
fn protobuf(message: &str) -> Value {
    json!({"type": "string", "contentMediaType": "application/x-protobuf",
        "description": format!("A protobuf `{message}` (opentelemetry-proto).")})
}

/// OTLP/JSON `ExportTraceServiceRequest`, in outline (opentelemetry-proto
/// has the full message).
fn otlp_request() -> Value {
    json!({
        "type": "object",
        "description": "OTLP/JSON `ExportTraceServiceRequest` (opentelemetry-proto, \
                        `opentelemetry/proto/collector/trace/v1/trace_service.proto`), in \
                        outline: each resource's scopes and their spans.",
        "properties": {"resourceSpans": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "resource": {"type": "object"},
                "scopeSpans": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "scope": {"type": "object"},
                        "spans": {"type": "array", "items": {"type": "object"}},
                    },
                }},
            },
        }}},
    })
}

/// OTLP/JSON `ExportTraceServiceResponse`: `{}`, or the spans left out.
fn otlp_response() -> Value {
    json!({
        "type": "object",
        "description": "OTLP/JSON `ExportTraceServiceResponse`: `{}` when every span was stored.",
        "properties": {"partialSuccess": {
            "type": "object",
            "properties": {
                "rejectedSpans": {"type": "string", "description": "Spans left out (int64 as a string)."},
                "errorMessage": {"type": "string", "description": "Why, naming up to five spans by path."},
            },
        }},
    })
}
