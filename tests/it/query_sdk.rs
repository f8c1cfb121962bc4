//! The official Query API client, `@raindrop-ai/query` 0.1.13 (pinned in
//! tests/clients/package-lock.json), unmodified, against data ingested
//! through the edge: `events.list` paged to the end by `meta.has_more`, its
//! filters (deepObject operators, properties, signals, traits, order),
//! `events.get`, `events.count`, and the errors the SDK raises for a 404, a
//! 403 (a slug nobody created) and a 400 (the other operations:
//! `query_sdk_views.rs`). The SDK validates every answer against its zod
//! schemas, so each call that returns proves the shape.

use downpour::registry::keys::Role;
use serde_json::json;

use crate::common::Harness;
use crate::js_clients::run_node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_sdk_reads_events_unmodified() {
    let h = Harness::start("query_sdk").await;
    let owner = h.key("qa-org", None, Role::Owner).await;
    let member = h.key("qa-org", None, Role::Member).await;
    let write = h.write_key("qa-org").await;
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "analytics"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t0 = u64::try_from(chrono::Utc::now().timestamp_millis()).expect("now") - 3_600_000;
    let at = |offset: u64| {
        chrono::DateTime::from_timestamp_millis(i64::try_from(t0 + offset).expect("ms"))
            .expect("time")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let events = json!([
        {"event_id": "q1", "user_id": "u1", "event": "chat", "timestamp": at(1000),
         "ai_data": {"model": "m", "input": "hi", "output": "hello", "convo_id": "c1"},
         "properties": {"plan": "pro", "n": 2}, "feature_flags": {"beta": "on"},
         "attachments": [{"type": "code", "value": "SELECT 1", "role": "input", "name": "q"}]},
        {"event_id": "q2", "user_id": "u1", "event": "search", "timestamp": at(2000)},
        {"event_id": "q3", "user_id": "u2", "event": "chat", "timestamp": at(3000)}
    ]);
    // Another org's events with the same ids never appear.
    let other = h.write_key("other-org").await;
    for (key, project) in [(&write, "analytics"), (&other, "analytics")] {
        let r = h
            .post(
                "/v1/events/track",
                Some(key),
                Some(project),
                &events.to_string(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let signal = r#"[{"event_id": "q1", "signal_name": "thumbs_up"}]"#;
    let r = h
        .post("/v1/signals/track", Some(&write), Some("analytics"), signal)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let identify = r#"{"user_id": "u2", "traits": {"plan": "paid"}}"#;
    let r = h
        .post(
            "/v1/users/identify",
            Some(&write),
            Some("analytics"),
            identify,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    for (sql, n) in [
        ("SELECT count() FROM events_by_user WHERE org = ?", 3),
        ("SELECT count() FROM signals WHERE org = ?", 1),
        ("SELECT count() FROM users WHERE org = ?", 1),
    ] {
        assert_eq!(h.wait_count(sql, "qa-org", n).await, n, "{sql}");
    }

    let env = [
        ("DOWNPOUR_BASE", h.base.clone()),
        ("DOWNPOUR_KEY", member.clone()),
        ("DOWNPOUR_PROJECT", "analytics".to_string()),
        ("DOWNPOUR_T0", t0.to_string()),
    ];
    let r = run_node(&h, "query_sdk.mjs", &env).await;
    assert_eq!(r["pages"], json!([["q3", "q2"], ["q1"]]), "{r}");
    assert_eq!(r["filtered"], json!(["q1"]), "{r}");
    assert_eq!(r["bySignal"], json!(["q1"]), "{r}");
    assert_eq!(r["byTrait"], json!(["q3"]), "{r}");
    assert_eq!(r["oldest"], json!(["q1"]), "{r}");
    assert_eq!(
        r["one"],
        json!({
            "id": "q1", "eventName": "chat", "userId": "u1", "convoId": "c1",
            "timestamp": at(1000), "userInput": "hi", "assistantOutput": "hello",
            "model": "m", "signals": ["thumbs_up"], "featureFlags": {"beta": "on"},
            "properties": {"plan": "pro", "n": 2},
            "inputAttachments": [{"attachmentType": "code", "value": "SELECT 1", "name": "q"}],
        }),
        "{r}"
    );
    assert_eq!((&r["total"], &r["users"]), (&json!(3), &json!(2)), "{r}");
    assert_eq!(r["missing"]["name"], "EventsGetNotFoundError", "{r}");
    assert_eq!(r["missing"]["status"], 404, "{r}");
    assert_eq!(r["pending"]["name"], "EventsListForbiddenError", "{r}");
    assert_eq!(r["pending"]["status"], 403, "{r}");
    assert_eq!(r["badLimit"]["name"], "EventsListBadRequestError", "{r}");
    assert_eq!(r["badLimit"]["status"], 400, "{r}");
    h.stop().await;
}
