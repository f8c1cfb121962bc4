//! Shared by `tests/it/bad_input.rs` and `tests/it/bad_headers.rs`: raw-byte
//! requests, refusal checks, and the marker barrier that proves a refused
//! request stored nothing.

use reqwest::header::HeaderValue;

use crate::common::{Harness, Response};

pub const TRACK: &str = "/v1/events/track";
/// Every ingest route, a valid one-item body for it, and its table.
pub const STREAMS: [(&str, &str, &str); 4] = [
    (
        TRACK,
        r#"[{"user_id": "marker", "event": "marker"}]"#,
        "events",
    ),
    (
        "/v1/signals/track",
        r#"[{"event_id": "marker", "signal_name": "marker"}]"#,
        "signals",
    ),
    (
        "/v1/users/identify",
        r#"{"user_id": "marker", "traits": {}}"#,
        "users",
    ),
    (
        "/v1/events/track_partial",
        r#"{"event_id": "marker", "is_pending": false}"#,
        "partial_events",
    ),
];

/// Sends `body` as bytes with `headers` (values as raw bytes, repeats kept).
pub async fn send(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Vec<u8>,
) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = h.http.request(method, format!("{}{path}", h.base));
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    Response::read(request.body(body).send().await.expect("request sent")).await
}

/// `Authorization: Bearer key` as a header pair.
pub fn bearer(key: &str) -> Vec<u8> {
    format!("Bearer {key}").into_bytes()
}

/// Asserts a refusal: `status`, and the error body's `param` is `param`.
pub fn refused(r: &Response, status: u16, param: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.body);
    assert_eq!(r.error()["param"], param, "{case}: {}", r.body);
}

/// Rows of `org` in `table` right now.
pub async fn count(h: &Harness, table: &str, org: &str) -> u64 {
    h.db.query(&format!("SELECT count() FROM {table} WHERE org = ?"))
        .bind(org)
        .fetch_one()
        .await
        .expect("count")
}

/// Sends one marker per stream as `key` (same org and project as the
/// refused requests, so the same partition, after them) and checks that
/// once each marker landed the org holds nothing else: every refused request
/// published nothing.
pub async fn assert_only_markers(h: &Harness, key: &str, org: &str, project: Option<&str>) {
    for (path, body, table) in STREAMS {
        let r = h.post(path, Some(key), project, body).await;
        assert_eq!(r.status, 204, "marker on {path}: {}", r.body);
        let sql = format!("SELECT count() FROM {table} WHERE org = ?");
        assert_eq!(h.wait_count(&sql, org, 1).await, 1, "marker in {table}");
    }
    for (_, _, table) in STREAMS {
        assert_eq!(count(h, table, org).await, 1, "only the marker in {table}");
    }
}
