//! Bad request bodies, case by case (the "Bad input" list of the
//! robustness issue), against the real broker and ClickHouse: each case gets
//! a clear 4xx with the JSON error body naming the item and field, and a
//! refused request stores nothing (checked with a marker sent after it on
//! every stream), or is accepted whole (every item reaches ClickHouse).
//!
//! Headers are in `tests/it/bad_headers.rs`, the listener's own limits (slow
//! clients, header size, connections) in `tests/it/listener.rs`, random inputs
//! in `tests/it/properties.rs`.

pub mod helpers;

use crate::common::{Harness, private_config};
use downpour::registry::keys::Role;
use helpers::{STREAMS, TRACK, assert_only_markers, bearer, refused, send};
use serde_json::{Value, json};

async fn start(name: &str) -> Harness {
    Harness::start(name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_request_limit_is_413_whoever_sends_it() {
    let mut cfg = private_config("body_limit");
    cfg.edge.max_body_bytes = 64 * 1024;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;
    let owner = h.key("acme", None, Role::Owner).await;
    // Many small valid events, over the limit only together.
    let events: Vec<Value> = (0..3000)
        .map(|i| json!({"user_id": "u", "event": format!("e{i}")}))
        .collect();
    let body = serde_json::to_vec(&events).expect("json");
    assert!(body.len() > 64 * 1024);
    for path in [TRACK, "/v1/signals/track", "/v1/users/identify"] {
        let r = send(
            &h,
            "POST",
            path,
            &[("authorization", &bearer(&key))],
            body.clone(),
        )
        .await;
        refused(&r, 413, "body", path);
    }
    // The admin API's bodies are bounded too (axum's 2 MB default).
    let huge = json!({"slug": "big", "name": "x".repeat(3 << 20)})
        .to_string()
        .into_bytes();
    let r = send(
        &h,
        "POST",
        "/v1/projects",
        &[
            ("authorization", &bearer(&owner)),
            ("content-type", b"application/json"),
        ],
        huge,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    r.error();
    assert_eq!(
        h.call("GET", "/v1/projects/big", &owner, None).await.status,
        404
    );
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_one_megabyte_is_truncated_and_marked_with_its_neighbours_intact() {
    // docs/CONTRACT.md §C12: an event over 1 MB has its properties truncated.
    let h = start("one_mb").await;
    let key = h.write_key("acme").await;
    let props: serde_json::Map<String, Value> = (0..1500)
        .map(|i| (format!("k{i:04}"), json!("v".repeat(1000))))
        .collect();
    // A million-element array in properties makes an event over 1 MB too.
    let million = format!("[{}0]", "0,".repeat(999_999));
    let body = format!(
        r#"[{{"user_id": "u", "event": "before"}}, {}, {{"user_id": "u", "event": "million", "properties": {{"list": {million}, "small": 1}}}}, {{"user_id": "u", "event": "after", "properties": {{"a": 1}}}}]"#,
        json!({"user_id": "u", "event": "big", "properties": props})
    );
    assert!(body.len() > 3_000_000);
    let r = h.post(TRACK, Some(&key), None, &body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sql = "SELECT count() FROM events WHERE org = ?";
    assert_eq!(h.wait_count(sql, "acme", 4).await, 4, "every item stored");
    let rows: Vec<(String, u8, String)> = h
        .rows("SELECT event, properties_truncated, properties FROM events WHERE org = ? ORDER BY event", "acme")
        .await;
    for (event, truncated, properties) in rows {
        let p: Value = serde_json::from_str(&properties).expect("properties JSON");
        match event.as_str() {
            "big" | "million" => {
                assert_eq!(truncated, 1, "{event}");
                assert_eq!(p["$truncated"], true, "{event}");
                assert!(properties.len() < 1 << 20, "{event}: {}", properties.len());
            }
            _ => assert_eq!(truncated, 0, "{event}"),
        }
        match event.as_str() {
            "big" => assert!(
                p.as_object().is_some_and(|o| o.len() > 100),
                "whole entries kept"
            ),
            "million" => assert_eq!(p["small"], 1, "the small entry survives, the list goes"),
            "after" => assert_eq!(p, json!({"a": 1})),
            _ => {}
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_400_in_the_body_and_in_headers() {
    let h = start("utf8").await;
    let key = h.write_key("acme").await;
    let member = h.key("acme", None, Role::Member).await;
    let auth = bearer(&key);
    for bytes in [&b"\xff"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"] {
        let mut body = br#"[{"user_id": "u", "event": "e"}, {"user_id": "u", "event": ""#.to_vec();
        body.extend_from_slice(bytes);
        body.extend_from_slice(br#""}]"#);
        let r = send(&h, "POST", TRACK, &[("authorization", &auth)], body).await;
        refused(&r, 400, "body", &format!("{bytes:?}"));
    }
    let r = send(
        &h,
        "POST",
        TRACK,
        &[
            ("authorization", &auth),
            ("x-raindrop-project-id", b"caf\xe9"),
        ],
        b"[]".to_vec(),
    )
    .await;
    refused(&r, 400, "X-Raindrop-Project-Id", "latin-1 slug");
    let r = send(
        &h,
        "POST",
        TRACK,
        &[("authorization", b"Bearer dp_\xff\xfe")],
        b"[]".to_vec(),
    )
    .await;
    refused(&r, 401, "Authorization", "latin-1 key");
    // Query API: a percent-encoded byte that is not UTF-8.
    let r = send(
        &h,
        "GET",
        "/v1/events?user_id=%FF",
        &[("authorization", &bearer(&member))],
        Vec::new(),
    )
    .await;
    refused(&r, 400, "user_id", "query string");
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_ten_thousand_deep_is_400() {
    let h = start("deep").await;
    let key = h.write_key("acme").await;
    let owner = h.key("acme", None, Role::Owner).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let in_props = format!(r#"[{{"user_id": "u", "event": "e", "properties": {{"a": {deep}}}}}]"#);
    for (path, body) in [
        (TRACK, deep.clone()),
        (TRACK, in_props),
        (
            "/v1/users/identify",
            format!(r#"{{"user_id": "u", "traits": {{"t": {deep}}}}}"#),
        ),
    ] {
        let r = h.post(path, Some(&key), None, &body).await;
        refused(&r, 400, "body", path);
    }
    let metadata = format!(r#"{{"slug": "deep", "metadata": {{"m": {deep}}}}}"#);
    let r = send(
        &h,
        "POST",
        "/v1/projects",
        &[
            ("authorization", &bearer(&owner)),
            ("content-type", b"application/json"),
        ],
        metadata.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    r.error();
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_element_array_is_refused_by_the_item_limit() {
    let h = start("million").await;
    let key = h.write_key("acme").await;
    let body = format!("[{}{{}}]", "{},".repeat(999_999));
    let r = h.post(TRACK, Some(&key), None, &body).await;
    refused(&r, 400, "body", "1,000,000 items");
    assert!(
        r.error()["message"]
            .as_str()
            .is_some_and(|m| m.contains("1000000 items")),
        "{}",
        r.body
    );
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

/// `(path, body, param)`: item 0 valid, item 1 wrong in exactly `param`.
const WRONG_TYPES: [(&str, &str, &str); 12] = [
    (TRACK, r#"{"user_id": "u", "event": 1}"#, "[1].event"),
    (TRACK, r#"{"user_id": 1.5, "event": "e"}"#, "[1].user_id"),
    (
        TRACK,
        r#"{"user_id": "u", "event": "e", "event_id": 5}"#,
        "[1].event_id",
    ),
    (
        TRACK,
        r#"{"user_id": "u", "event": "e", "timestamp": 1700000000}"#,
        "[1].timestamp",
    ),
    (
        TRACK,
        r#"{"user_id": "u", "event": "e", "properties": 5}"#,
        "[1].properties",
    ),
    (
        TRACK,
        r#"{"user_id": "u", "event": "e", "ai_data": {"input": 3}}"#,
        "[1].ai_data.input",
    ),
    (
        TRACK,
        r#"{"user_id": "u", "event": "e", "attachments": [{"type": "text", "value": 1}]}"#,
        "[1].attachments[0].value",
    ),
    (
        "/v1/signals/track",
        r#"{"event_id": "x", "signal_name": 1}"#,
        "[1].signal_name",
    ),
    (
        "/v1/signals/track",
        r#"{"event_id": 42, "signal_name": "s"}"#,
        "[1].event_id",
    ),
    (
        "/v1/users/identify",
        r#"{"user_id": true, "traits": {}}"#,
        "[1].user_id",
    ),
    (
        "/v1/users/identify",
        r#"{"user_id": "u", "traits": "paid"}"#,
        "[1].traits",
    ),
    (
        "/v1/events/track_partial",
        r#"{"event_id": "p", "is_pending": "no"}"#,
        "[1].is_pending",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_where_strings_belong_name_the_item_and_field() {
    let h = start("types").await;
    let key = h.write_key("acme").await;
    let owner = h.key("acme", None, Role::Owner).await;
    for (path, bad, param) in WRONG_TYPES {
        let good = STREAMS
            .iter()
            .find(|s| s.0 == path)
            .map(|s| s.1.trim_matches(|c| c == '[' || c == ']'))
            .expect("stream");
        let r = h
            .post(path, Some(&key), None, &format!("[{good}, {bad}]"))
            .await;
        refused(&r, 400, param, bad);
        assert!(
            r.error()["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(param)),
            "{}",
            r.body
        );
    }
    for (body, param) in [
        (json!({"slug": 5}), "slug"),
        (json!({"slug": "s", "name": 5}), "name"),
        (
            json!({"slug": "s", "rate_limit_rpm": "sixty"}),
            "rate_limit_rpm",
        ),
    ] {
        let r = h
            .call("POST", "/v1/projects", &owner, Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.error()["param"]
                .as_str()
                .is_some_and(|p| p.contains(param)),
            "{body}: {}",
            r.body
        );
    }
    let r = send(
        &h,
        "GET",
        "/v1/events?limit=ten",
        &[("authorization", &bearer(&owner))],
        Vec::new(),
    )
    .await;
    refused(&r, 400, "limit", "limit=ten");
    assert_only_markers(&h, &key, "acme", None).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_user_id_is_required_where_the_spec_requires_it() {
    // docs/CONTRACT.md §C8, §C10: `user_id` is required for events and identify;
    // fields.rs: "`null` and absence mean the same everywhere".
    let h = start("null_user").await;
    let key = h.write_key("acme").await;
    let r = h
        .post(
            TRACK,
            Some(&key),
            None,
            r#"[{"user_id": "u", "event": "e"}, {"user_id": null, "event": "e"}]"#,
        )
        .await;
    refused(&r, 400, "[1].user_id", "events");
    let r = h
        .post(
            "/v1/users/identify",
            Some(&key),
            None,
            r#"{"user_id": null, "traits": {}}"#,
        )
        .await;
    refused(&r, 400, "user_id", "identify");
    assert_only_markers(&h, &key, "acme", None).await;
    // A partial patch may leave user_id out (or null): it is accepted.
    let r = h
        .post(
            "/v1/events/track_partial",
            Some(&key),
            None,
            r#"{"event_id": "p1", "user_id": null, "is_pending": true}"#,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.wait_count(
            "SELECT count() FROM partial_events WHERE org = ?",
            "acme",
            2
        )
        .await,
        2
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_arrays_are_refused_as_bodies_and_kept_as_fields() {
    let h = start("empty").await;
    let key = h.write_key("acme").await;
    for (path, _, _) in STREAMS {
        let r = h.post(path, Some(&key), None, "[]").await;
        refused(&r, 400, "body", path);
        let r = h.post(path, Some(&key), None, "[[]]").await;
        refused(&r, 400, "[0]", path);
    }
    assert_only_markers(&h, &key, "acme", None).await;
    let r = h
        .post(
            TRACK,
            Some(&key),
            None,
            r#"[{"user_id": "u", "event": "empty", "attachments": [], "properties": {}}]"#,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.wait_count("SELECT count() FROM events WHERE org = ?", "acme", 2)
            .await,
        2
    );
    let rows: Vec<(String, String)> = h
        .rows(
            "SELECT attachments, properties FROM events WHERE org = ? AND event = 'empty'",
            "acme",
        )
        .await;
    assert_eq!(rows, [("[]".to_string(), "{}".to_string())]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_event_ids_in_one_request_are_one_event() {
    // The event_id is the event's identity (signals and partial patches refer
    // to it, and a retried request collapses by it), so two items with one id
    // are one event: both rows are stored, a reader sees that id once.
    let h = start("dup_ids").await;
    let key = h.write_key("acme").await;
    let body = r#"[{"event_id": "same", "user_id": "u", "event": "first"}, {"event_id": "other", "user_id": "u", "event": "e"}, {"event_id": "same", "user_id": "u", "event": "second"}]"#;
    let r = h.post(TRACK, Some(&key), None, body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.wait_count("SELECT count() FROM events WHERE org = ?", "acme", 3)
            .await,
        3,
        "every item stored"
    );
    let seen: Vec<(String, String)> = h
        .rows(
            "SELECT event_id, event FROM events_view WHERE org = ? ORDER BY event_id",
            "acme",
        )
        .await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, "same");
    assert!(
        ["first", "second"].contains(&seen[1].1.as_str()),
        "{seen:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_from_1970_are_kept_and_2200_is_refused() {
    // README: "Timestamps are ISO 8601 between 1970 and 2106" (ClickHouse's DateTime).
    let h = start("timestamps").await;
    let key = h.write_key("acme").await;
    for (stamp, param) in [
        ("2200-01-01T00:00:00Z", "[1].timestamp"),
        ("1969-12-31T23:59:59Z", "[1].timestamp"),
        ("2106-02-07T06:28:16Z", "[1].timestamp"),
    ] {
        let body = format!(
            r#"[{{"user_id": "u", "event": "e"}}, {{"user_id": "u", "event": "e", "timestamp": "{stamp}"}}]"#
        );
        let r = h.post(TRACK, Some(&key), None, &body).await;
        refused(&r, 400, param, stamp);
    }
    assert_only_markers(&h, &key, "acme", None).await;
    let body = r#"[{"user_id": "u", "event": "epoch", "timestamp": "1970-01-01T00:00:00Z"}, {"user_id": "u", "event": "y1970", "timestamp": "1970-06-01T12:00:00.250Z"}, {"user_id": "u", "event": "last", "timestamp": "2106-02-07T06:28:15Z"}]"#;
    let r = h.post(TRACK, Some(&key), None, body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        h.wait_count("SELECT count() FROM events WHERE org = ?", "acme", 4)
            .await,
        4
    );
    let rows: Vec<(String, u64)> = h.rows("SELECT event, timestamp_ms FROM events WHERE org = ? AND event != 'marker' ORDER BY timestamp_ms", "acme").await;
    let expected = [
        ("epoch", 0),
        ("y1970", 13_089_600_250),
        ("last", 4_294_967_295_000),
    ];
    assert_eq!(rows, expected.map(|(e, t)| (e.to_string(), t)));
    h.stop().await;
}
