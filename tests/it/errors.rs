//! Refusals: every error is a 4xx (or a 503 when the broker cannot take the
//! request) with the JSON body `{"error": {message, type, code, param}}`
//! naming the item and field, and nothing is published.

use crate::common::{Harness, private_config};
use downpour::runtime::Parts;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_item_and_field() {
    let mut cfg = private_config("errors");
    cfg.edge.max_body_bytes = 64 * 1024;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;
    let ok = r#"[{"user_id": "u", "event": "e"}]"#;

    // docs/CONTRACT.md §C2: every request carries the SDK write key; without a valid one, 401.
    for bad_key in [
        None,
        Some("garbage"),
        Some("dp_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ] {
        let r = h.post("/v1/events/track", bad_key, None, ok).await;
        assert_eq!(r.status, 401, "{bad_key:?}");
        assert_eq!(r.error()["param"], "Authorization");
    }
    // A key whose secret part is wrong is refused like an unknown one.
    let last = if key.ends_with('X') { 'Y' } else { 'X' };
    let tampered = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(
        h.post("/v1/events/track", Some(&tampered), None, ok)
            .await
            .status,
        401
    );

    // docs/CONTRACT.md §C3, §C4: a malformed slug is refused with 400.
    for slug in [
        "Upper",
        "trailing-",
        "-leading",
        "under_score",
        "../etc",
        &"a".repeat(64),
    ] {
        let r = h.post("/v1/events/track", Some(&key), Some(slug), ok).await;
        assert_eq!(r.status, 400, "{slug}");
        assert_eq!(r.error()["param"], "X-Raindrop-Project-Id", "{slug}");
    }

    let cases: [(&str, &str, &str); 8] = [
        ("/v1/events/track", "{not json", "body"),
        ("/v1/events/track", "42", "body"),
        ("/v1/events/track", "[]", "body"),
        (
            "/v1/events/track",
            r#"[{"user_id": "u", "event": "e"}, {"event": "e"}]"#,
            "[1].user_id",
        ),
        (
            "/v1/events/track",
            r#"[{"user_id": 7, "event": "e"}]"#,
            "[0].user_id",
        ),
        (
            "/v1/events/track",
            r#"[{"user_id": "u", "event": "e", "ai_data": {"model": "m"}}]"#,
            "[0].ai_data",
        ),
        (
            "/v1/signals/track",
            r#"[{"event_id": "x", "signal_name": "s", "sentiment": "meh"}]"#,
            "[0].sentiment",
        ),
        ("/v1/users/identify", r#"{"traits": {}}"#, "user_id"),
    ];
    for (path, body, param) in cases {
        let r = h.post(path, Some(&key), None, body).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.body);
        let e = r.error();
        assert_eq!(e["param"], param, "{body}");
        assert!(
            e["message"].as_str().is_some_and(|m| m.starts_with(param)),
            "{e}"
        );
    }

    let big = format!(
        r#"[{{"user_id": "u", "event": "e", "properties": {{"x": "{}"}}}}]"#,
        "y".repeat(70 * 1024)
    );
    let r = h.post("/v1/events/track", Some(&key), None, &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error()["param"], "body");

    let r = h
        .http
        .post(format!("{}/v1/events/track", h.base))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ok)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 415);

    // Unknown routes and wrong methods answer with the error body too.
    let r = h.post("/v1/nothing/here", Some(&key), None, ok).await;
    assert_eq!(r.status, 404);
    r.error();
    let r = h.call("DELETE", "/v1/events/track", &key, None).await;
    assert_eq!(r.status, 405);
    r.error();
    // Extractor rejections too: a path segment that is not UTF-8 (from a
    // caller allowed on the route: the caller is checked first).
    let owner = h
        .key("acme", None, downpour::registry::keys::Role::Owner)
        .await;
    let r = h.call("GET", "/v1/projects/%FF", &owner, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    r.error();

    // One good request after all of that; only it reaches ClickHouse.
    assert_eq!(
        h.post("/v1/events/track", Some(&key), None, ok)
            .await
            .status,
        204
    );
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 1)
            .await,
        1
    );
    let partials: u64 =
        h.db.query("SELECT count() FROM partial_events")
            .fetch_one()
            .await
            .expect("count");
    assert_eq!(partials, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_gets_503_with_retry_after_never_204() {
    // Keys live in a migrated database; the edge's broker address is a closed port.
    let mut cfg = private_config("nobroker");
    downpour::sink::schema::migrate(
        &downpour::sink::clickhouse::server(&cfg.clickhouse).unwrap(),
        &cfg.clickhouse.database,
    )
    .await
    .expect("migrate");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    cfg.kafka.brokers = closed.to_string();
    cfg.kafka.publish_timeout_ms = 1_500;
    let h = Harness::start_with(
        cfg,
        Parts {
            edge: true,
            consumers: false,
        },
        false,
    )
    .await;
    let key = h.write_key("acme").await;
    let r = h
        .post(
            "/v1/events/track",
            Some(&key),
            None,
            r#"[{"user_id": "u", "event": "e"}]"#,
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    r.error();
    let deadline = std::time::Instant::now() + crate::common::DEADLINE;
    loop {
        let ready = h
            .http
            .get(format!("{}/readyz", h.base))
            .send()
            .await
            .expect("readyz")
            .status()
            .as_u16();
        if ready == 503 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never turned false"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    h.stop().await;
}
