//! For the unit tests of each part's router: what it serves is what its
//! OpenAPI document lists. [`assert_served_as_documented`] checks that the
//! document holds exactly the expected routes and methods, and that the
//! router answers each documented method (not 404/405) and refuses every
//! other one (405), so a method served without documentation, or
//! documented without being served, fails the part's test.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;
use utoipa_axum::router::OpenApiRouter;

use super::openapi;

/// The methods probed on every documented path (HEAD follows GET in axum).
const PROBED: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The documented methods of each path of `router`'s document, sorted.
pub fn documented(router: &mut OpenApiRouter) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in router.get_openapi_mut().paths.paths.iter_mut() {
        let mut methods: Vec<String> = PROBED
            .iter()
            .filter(|m| has(item, m))
            .map(|m| m.to_string())
            .collect();
        methods.sort();
        assert_eq!(
            methods.len(),
            openapi::operations(item).len(),
            "{path}: an operation on an unprobed method"
        );
        out.push((path.clone(), methods));
    }
    out
}

fn has(item: &utoipa::openapi::PathItem, method: &Method) -> bool {
    match *method {
        Method::GET => item.get.is_some(),
        Method::POST => item.post.is_some(),
        Method::PUT => item.put.is_some(),
        Method::PATCH => item.patch.is_some(),
        Method::DELETE => item.delete.is_some(),
        Method::OPTIONS => item.options.is_some(),
        _ => false,
    }
}

/// Asserts that `router` documents exactly `expected` (path, methods) and
/// serves exactly the documented methods on each documented path. Requests
/// carry no key and no body: a documented route answers them itself (401,
/// 200, a preflight), never 404 or 405.
pub async fn assert_served_as_documented(mut router: OpenApiRouter, expected: &[(&str, &[&str])]) {
    let documented = documented(&mut router);
    let mut want: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(path, methods)| {
            let mut methods: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
            methods.sort();
            (path.to_string(), methods)
        })
        .collect();
    want.sort();
    assert_eq!(documented, want, "the document's routes");
    let (router, _) = router.split_for_parts();
    let service = TowerToHyperService::new(router);
    for (path, methods) in &documented {
        let uri = concrete(path);
        for method in PROBED {
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Body::empty())
                .expect("request");
            let status = service.call(request).await.expect("answer").status();
            if methods.contains(&method.to_string()) {
                assert!(
                    status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: documented, answered {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: not documented, yet served"
                );
            }
        }
    }
}

/// `path` with each `{param}` replaced by a value (`p-param`).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix('{') {
            Some(name) => format!("p-{}", name.trim_end_matches('}').replace('_', "-")),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `$ref` in `v` (the documents' tests check each resolves).
pub fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r.to_string()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}
