//! `GET /openapi.json` (issue 11): served without a key, OpenAPI 3.1, and
//! true to the router both ways:
//! - every documented operation is served: each is requested and none meets
//!   the router's fallbacks ("no such route" 404, "method not allowed" 405);
//! - nothing undocumented is served on a documented path: every other
//!   method there is a 405 (a GET alias of an ingest path, `/v1/events/track`
//!   as an event id, is an instance of the documented `/v1/events/{id}`);
//! - the routes the product promises (ingest, admin, keys, query) are all in
//!   it;
//! - and every Query API answer, over data ingested through the edge,
//!   validates against the operation's documented 200 schema (and a refusal
//!   against its 400 schema), with a JSON Schema validator over the
//!   document itself (its `$ref`s resolve in it).

use std::collections::BTreeSet;

use downpour::registry::keys::Role;
use serde_json::{Value, json};

use crate::common::{Harness, Response};

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What the product promises to serve, by method and path template.
const PROMISED: &[(&str, &str)] = &[
    ("POST", "/v1/events/track"),
    ("POST", "/v1/signals/track"),
    ("POST", "/v1/users/identify"),
    ("POST", "/v1/events/track_partial"),
    ("POST", "/v1/traces"),
    ("GET", "/v1/projects"),
    ("POST", "/v1/projects"),
    ("GET", "/v1/projects/pending"),
    ("GET", "/v1/projects/{slug}"),
    ("PATCH", "/v1/projects/{slug}"),
    ("PUT", "/v1/projects/{slug}"),
    ("DELETE", "/v1/projects/{slug}"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/count"),
    ("GET", "/v1/events/search"),
    ("GET", "/v1/events/timeseries"),
    ("GET", "/v1/events/facets"),
    ("GET", "/v1/events/{id}"),
    ("GET", "/v1/signals"),
    ("GET", "/v1/signals/{id}"),
    ("GET", "/v1/signal-groups"),
    ("GET", "/v1/signal-groups/{id}"),
    ("GET", "/v1/signal-groups/{id}/signals"),
    ("GET", "/v1/users"),
    ("GET", "/v1/users/{id}"),
    ("GET", "/v1/conversations"),
    ("GET", "/v1/conversations/{id}"),
    ("GET", "/v1/traces"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
];

async fn send(
    h: &Harness,
    method: &str,
    path: &str,
    key: Option<&str>,
    project: Option<&str>,
) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = h.http.request(method, format!("{}{path}", h.base));
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if let Some(project) = project {
        request = request.header("x-raindrop-project-id", project);
    }
    Response::read(request.send().await.expect("request sent")).await
}

/// (method, path template) of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                ops.insert((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

/// Whether `path` is an instance of the documented `template`.
fn instance_of(path: &str, template: &str) -> bool {
    let (p, t): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), template.split('/').collect());
    p.len() == t.len()
        && p.iter()
            .zip(&t)
            .all(|(a, b)| a == b || (b.starts_with('{') && b.ends_with('}')))
}

/// Whether `response` came from the router's fallbacks, not a route.
fn unrouted(r: &Response) -> bool {
    (r.status == 404 && r.body.contains("no such route"))
        || (r.status == 405 && r.body.contains("method not allowed"))
}

/// A validator of the schema at `pointer` in `doc`, with `doc` as the
/// root its `$ref`s resolve in.
fn validator(doc: &Value, pointer: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = json!(format!("#{pointer}"));
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema at {pointer}: {e}"))
}

/// `path` as a JSON pointer token (`/` → `~1`, `~` → `~0`).
fn token(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

fn check(doc: &Value, template: &str, status: u16, body: &str) {
    let pointer = format!(
        "/paths/{}/get/responses/{status}/content/application~1json/schema",
        token(template)
    );
    assert!(
        doc.pointer(&pointer).is_some(),
        "{template}: no {status} schema documented"
    );
    let instance: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{template}: {e}: {body}"));
    // In a `$ref` the pointer is a URI fragment: braces percent-encoded.
    let v = validator(doc, &pointer.replace('{', "%7B").replace('}', "%7D"));
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{template} {status} does not match its schema: {errors:#?}\n{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_true_to_the_router_and_the_answers_match_it() {
    let h = Harness::start("openapi").await;
    let r = send(&h, "GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: Value = serde_json::from_str(&r.body).expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let documented = operations(&doc);
    for (method, path) in PROMISED {
        assert!(
            documented.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not documented"
        );
    }
    // Documented → served; undocumented methods on documented paths → 405.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{slug}", "no-such-project")
            .replace("{key_id}", "no-such-key")
            .replace("{id}", "no-such-id");
        for method in METHODS {
            let r = send(&h, method, &concrete, None, None).await;
            let alias = documented
                .iter()
                .any(|(m, t)| m == method && t != path && instance_of(&concrete, t));
            if item.get(method.to_lowercase()).is_some() {
                assert!(
                    !unrouted(&r),
                    "{method} {path} documented, not served: {}",
                    r.status
                );
            } else if !alias {
                assert!(
                    r.status == 405 && unrouted(&r),
                    "{method} {path} served ({}) but not documented: {}",
                    r.status,
                    r.body
                );
            }
        }
    }
    // A route never documented is not served either.
    assert!(unrouted(
        &send(&h, "GET", "/v1/nothing-here", None, None).await
    ));

    // Query answers over real data validate against their documented schemas.
    let owner = h.key("oa-org", None, Role::Owner).await;
    let member = h.key("oa-org", None, Role::Member).await;
    let write = h.write_key("oa-org").await;
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "docs"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let events = json!([
        {"event_id": "o1", "user_id": "u1", "event": "chat", "timestamp": "2026-11-01T10:00:00Z",
         "ai_data": {"model": "m", "input": "hello", "output": "world", "convo_id": "c1"},
         "properties": {"plan": "pro", "n": 2}, "feature_flags": {"beta": true},
         "attachments": [{"type": "code", "value": "x", "role": "output", "name": "n"}]},
        {"event_id": "o2", "user_id": "u2", "event": "search", "timestamp": "2026-11-01T11:00:00Z",
         "ai_data": {"input": "find", "convo_id": "c1"}}
    ]);
    let signals = json!([
        {"event_id": "o1", "signal_name": "thumbs_up", "sentiment": "POSITIVE", "signal_type": "feedback"},
        {"event_id": "o2", "signal_name": "retry"}
    ]);
    let identify = json!({"user_id": "u1", "traits": {"plan": "pro"}});
    let span = |id: &str, parent: &str, attrs: Value| {
        json!({"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": id, "parentSpanId": parent,
               "name": "step", "startTimeUnixNano": "1761991200000000000",
               "endTimeUnixNano": "1761991201000000000", "attributes": attrs, "status": {"code": 1}})
    };
    let export = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        span("00f067aa0ba902b7", "", json!([
            {"key": "traceloop.association.properties.event_id", "value": {"stringValue": "o1"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
            {"key": "flag", "value": {"boolValue": true}}])),
        span("00f067aa0ba902b8", "00f067aa0ba902b7", json!([
            {"key": "ai.toolCall.name", "value": {"stringValue": "search"}}]))
    ]}]}]});
    for (path, body) in [
        ("/v1/events/track", events.to_string()),
        ("/v1/signals/track", signals.to_string()),
        ("/v1/users/identify", identify.to_string()),
        ("/v1/traces", export.to_string()),
    ] {
        let r = h.post(path, Some(&write), Some("docs"), &body).await;
        assert!(r.status == 204 || r.status == 200, "{path}: {}", r.body);
    }
    for (sql, n) in [
        ("SELECT count() FROM events_by_user WHERE org = ?", 2),
        ("SELECT count() FROM signals WHERE org = ?", 2),
        ("SELECT count() FROM users WHERE org = ?", 1),
        ("SELECT count() FROM spans WHERE org = ?", 2),
    ] {
        assert_eq!(h.wait_count(sql, "oa-org", n).await, n, "{sql}");
    }
    let reads = [
        ("/v1/events", "/v1/events?limit=1"),
        ("/v1/events/count", "/v1/events/count?count_by=user_id"),
        ("/v1/events/search", "/v1/events/search?query=HELLO"),
        (
            "/v1/events/timeseries",
            "/v1/events/timeseries?interval=hour",
        ),
        ("/v1/events/facets", "/v1/events/facets?field=signal"),
        ("/v1/events/{id}", "/v1/events/o1"),
        ("/v1/signals", "/v1/signals"),
        ("/v1/signals/{id}", "/v1/signals/thumbs_up"),
        ("/v1/signal-groups", "/v1/signal-groups"),
        ("/v1/signal-groups/{id}", "/v1/signal-groups/feedback"),
        (
            "/v1/signal-groups/{id}/signals",
            "/v1/signal-groups/default/signals",
        ),
        ("/v1/users", "/v1/users"),
        ("/v1/users/{id}", "/v1/users/u2"),
        ("/v1/conversations", "/v1/conversations"),
        ("/v1/conversations/{id}", "/v1/conversations/c1"),
        ("/v1/traces", "/v1/traces?event_id=o1"),
    ];
    for (template, path) in reads {
        let r = send(&h, "GET", path, Some(&member), Some("docs")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let body: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_ne!(
            body["data"],
            json!([]),
            "{path}: nothing to validate: {body}"
        );
        check(&doc, template, 200, &r.body);
    }
    // The validator does refuse: a page whose event lacks `id`, or whose
    // `meta` is missing, is not a page of events.
    let v = validator(
        &doc,
        "/paths/~1v1~1events/get/responses/200/content/application~1json/schema",
    );
    let good: Value = serde_json::from_str(
        &send(&h, "GET", "/v1/events?limit=1", Some(&member), Some("docs"))
            .await
            .body,
    )
    .expect("JSON");
    assert!(v.is_valid(&good));
    let mut no_id = good.clone();
    no_id["data"][0]
        .as_object_mut()
        .expect("event")
        .remove("id");
    assert!(!v.is_valid(&no_id), "{no_id}");
    assert!(!v.is_valid(&json!({"data": []})));
    // Refusals validate against the documented error answers.
    for (template, path, status) in [
        ("/v1/events", "/v1/events?limit=0", 400),
        (
            "/v1/events/search",
            "/v1/events/search?query=x&mode=semantic",
            400,
        ),
        ("/v1/users/{id}", "/v1/users/nobody", 404),
    ] {
        let r = send(&h, "GET", path, Some(&member), Some("docs")).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        check(&doc, template, status, &r.body);
    }
    h.stop().await;
}
