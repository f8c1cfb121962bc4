//! Retention on ClickHouse 18.16 (issue 13, docs/CONTRACT.md §C24), against
//! the real broker and ClickHouse: the edge stamps every row with the
//! expiries its project's settings give, a settings change applies to new
//! rows only, and the consumer's sweeper (src/sink/retention.rs), driven
//! here by a clock the test moves, empties bodies after
//! `body_retention_hours` while the metadata stays, then deletes rows after
//! `log_retention_days`. A sweep with nothing due issues no mutation.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Harness, private_config};
use downpour::registry::keys::Role;
use downpour::sink::retention::{Outcome, Sweep, Sweeper};

const ORG: &str = "retain";

/// `event_id, ai_input, ai_output, attachments, ai_model, user_id, convo_id, properties`.
type StoredEvent = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);
const HOUR: u32 = 3600;
/// No table swept.
const NOTHING: [&str; 0] = [];
const DAY: u32 = 86_400;

/// Posts `body` to `path` for `project`, expecting `status`.
async fn send(
    h: &Harness,
    key: &str,
    project: &str,
    path: &str,
    body: serde_json::Value,
    status: u16,
) {
    let r = h
        .post(path, Some(key), Some(project), &body.to_string())
        .await;
    assert_eq!(r.status, status, "{path}: {}", r.body);
}

/// Sweeps at `at`, waits for the mutations, and returns the tables that
/// got one.
async fn swept(sweeper: &Sweeper, sweep: Sweep, at: u32) -> Vec<&'static str> {
    let done = sweeper.sweep(sweep, at).await.expect("sweep");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sweeper.settled().await.expect("system.mutations") {
        assert!(
            Instant::now() < deadline,
            "mutations still running after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.iter()
        .filter(|(_, o)| matches!(o, Outcome::Mutated(_)))
        .map(|(t, _)| *t)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_then_rows_expire_by_the_expiries_stamped_at_ingest() {
    let mut cfg = private_config("retention");
    // The test's sweeps only, on its clock.
    cfg.retention.sweep = false;
    cfg.registry.cache_ttl_ms = 500;
    let h = Harness::start_cfg(cfg).await;
    let admin = h.key(ORG, None, Role::Admin).await;
    let write = h.write_key(ORG).await;
    let r = h
        .call(
            "POST",
            "/v1/projects",
            &admin,
            Some(json!({"slug": "brief", "settings": {"body_retention_hours": 1, "log_retention_days": 1}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // One of everything to the 1-hour project, an event to `default` (48 h).
    let event = |id: &str| {
        json!([{"event_id": id, "user_id": "u1", "event": "chat",
                "ai_data": {"model": "gpt-4o", "input": "my prompt", "output": "my answer", "convo_id": "c1"},
                "attachments": [{"type": "text", "value": "my file", "role": "input"}],
                "properties": {"plan": "pro"}}])
    };
    send(&h, &write, "brief", "/v1/events/track", event("short"), 204).await;
    send(
        &h,
        &write,
        "default",
        "/v1/events/track",
        event("long"),
        204,
    )
    .await;
    send(
        &h,
        &write,
        "brief",
        "/v1/events/track_partial",
        json!({"event_id": "patch", "is_pending": false, "user_id": "u1", "ai_data": {"input": "my prompt"}}),
        204,
    )
    .await;
    send(
        &h,
        &write,
        "brief",
        "/v1/signals/track",
        json!({"event_id": "short", "signal_name": "thumbs_up"}),
        204,
    )
    .await;
    send(
        &h,
        &write,
        "brief",
        "/v1/users/identify",
        json!({"user_id": "u1", "traits": {"plan": "pro"}}),
        204,
    )
    .await;
    let span = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7", "name": "llm",
    "startTimeUnixNano": "1761991200000000000", "endTimeUnixNano": "1761991201000000000",
    "attributes": [
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.prompt", "value": {"stringValue": "my prompt"}},
        {"key": "raindrop.eventId", "value": {"stringValue": "short"}}
    ]}]}]}]});
    send(&h, &write, "brief", "/v1/traces", span, 200).await;

    for (sql, n) in [
        ("SELECT count() FROM events WHERE org = ?", 2),
        ("SELECT count() FROM events_by_user WHERE org = ?", 2),
        ("SELECT count() FROM events_by_time WHERE org = ?", 2),
        ("SELECT count() FROM partial_events WHERE org = ?", 1),
        ("SELECT count() FROM signals WHERE org = ?", 1),
        ("SELECT count() FROM users WHERE org = ?", 1),
        ("SELECT count() FROM spans WHERE org = ?", 1),
    ] {
        assert_eq!(h.wait_count(sql, ORG, n).await, n, "{sql}");
    }

    // Stamped from the project's settings at receipt.
    let stamps: Vec<(String, u32, u32, u32)> = h
        .rows(
            "SELECT event_id, toUInt32(received_at), toUInt32(body_expires_at), toUInt32(expires_at) \
             FROM events WHERE org = ? ORDER BY event_id",
            ORG,
        )
        .await;
    let (_, long_at, long_body, long_row) = stamps[0].clone();
    let (_, t0, body, row) = stamps[1].clone();
    assert_eq!((body, row), (t0 + HOUR, t0 + DAY), "{stamps:?}");
    assert_eq!(
        (long_body, long_row),
        (long_at + 48 * HOUR, long_at + 90 * DAY)
    );
    for table in ["signals", "users", "spans", "partial_events"] {
        let sql = format!(
            "SELECT toUInt32(toUInt32(expires_at) - toUInt32(received_at)) FROM {table} WHERE org = ?"
        );
        let kept: Vec<u32> = h.rows(&sql, ORG).await;
        assert_eq!(kept, vec![DAY], "{table}");
    }
    // The span's prompt is a body, its model is not.
    let span: Vec<(String, String)> = h
        .rows(
            "SELECT attributes, body_attributes FROM spans WHERE org = ?",
            ORG,
        )
        .await;
    assert!(
        span[0].0.contains("gen_ai.request.model") && !span[0].0.contains("my prompt"),
        "{span:?}"
    );
    assert!(span[0].1.contains("my prompt"), "{span:?}");

    // A change applies to new rows only.
    let r = h
        .call(
            "PATCH",
            "/v1/projects/brief",
            &admin,
            Some(json!({"settings": {"body_retention_hours": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let changed = Instant::now();
    let mut later = 0;
    loop {
        let id = format!("later-{later}");
        send(&h, &write, "brief", "/v1/events/track", event(&id), 204).await;
        let sql = format!(
            "SELECT count() FROM events WHERE org = ? AND event_id = '{id}' \
             AND body_expires_at = received_at + {}",
            5 * HOUR
        );
        if h.wait_count(&sql, ORG, 1).await == 1 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "the change never reached the edge"
        );
        later += 1;
    }
    let kept: Vec<u32> = h
        .rows(
            "SELECT toUInt32(body_expires_at) FROM events WHERE org = ? AND event_id = 'short'",
            ORG,
        )
        .await;
    assert_eq!(kept, vec![t0 + HOUR], "an existing row keeps its expiry");

    let sweeper = Sweeper::new(h.db.clone());
    // Before the hour: nothing is due, no mutation issued.
    assert_eq!(
        swept(&sweeper, Sweep::Bodies, t0 + HOUR - 60).await,
        NOTHING
    );

    // After it: the bodies of the 1-hour project's rows are emptied.
    assert_eq!(
        swept(&sweeper, Sweep::Bodies, t0 + HOUR + 60).await,
        [
            "events",
            "events_by_time",
            "events_by_user",
            "partial_events",
            "spans"
        ],
    );
    for table in ["events", "events_by_time", "events_by_user"] {
        let sql = format!(
            "SELECT event_id, ai_input, ai_output, attachments, ai_model, user_id, convo_id, properties \
             FROM {table} WHERE org = ? ORDER BY event_id"
        );
        let rows: Vec<StoredEvent> = h.rows(&sql, ORG).await;
        for (id, input, output, attachments, model, user, convo, props) in &rows {
            let expired = id == "short";
            assert_eq!(input.is_empty(), expired, "{table} {id}");
            assert_eq!(output.is_empty(), expired, "{table} {id}");
            assert_eq!(attachments == "[]", expired, "{table} {id}: {attachments}");
            // The metadata stays.
            assert_eq!(
                (model.as_str(), user.as_str(), convo.as_str()),
                ("gpt-4o", "u1", "c1")
            );
            assert_eq!(props, r#"{"plan":"pro"}"#, "{table} {id}");
        }
        assert!(rows.len() >= 3, "{table}: {rows:?}");
    }
    let patch: Vec<(String, String)> = h
        .rows(
            "SELECT ai_input, user_id FROM partial_events WHERE org = ?",
            ORG,
        )
        .await;
    assert_eq!(patch, vec![(String::new(), "u1".to_string())]);
    let span: Vec<(String, String)> = h
        .rows(
            "SELECT attributes, body_attributes FROM spans WHERE org = ?",
            ORG,
        )
        .await;
    assert_eq!(span[0].1, "{}");
    assert!(span[0].0.contains("gen_ai.request.model"), "{span:?}");

    // Swept bodies do not match again: the next sweep rewrites nothing.
    assert_eq!(
        swept(&sweeper, Sweep::Bodies, t0 + HOUR + 120).await,
        NOTHING
    );

    // After a day the 1-hour project's rows are deleted; the rest stay.
    assert_eq!(swept(&sweeper, Sweep::Rows, t0 + DAY - 60).await, NOTHING);
    assert_eq!(
        swept(&sweeper, Sweep::Rows, t0 + DAY + 60).await,
        [
            "events",
            "events_by_time",
            "events_by_user",
            "partial_events",
            "spans",
            "signals",
            "users"
        ],
    );
    for table in [
        "events",
        "events_by_time",
        "events_by_user",
        "partial_events",
        "spans",
        "signals",
        "users",
    ] {
        let sql = format!("SELECT count() FROM {table} WHERE org = ? AND project = 'brief'");
        let left: Vec<u64> = h.rows(&sql, ORG).await;
        assert_eq!(left, vec![0], "{table}");
    }
    let kept: Vec<String> = h
        .rows(
            "SELECT event_id FROM events WHERE org = ? AND project = 'default'",
            ORG,
        )
        .await;
    assert_eq!(kept, vec!["long".to_string()], "48 hours and 90 days: kept");
    // Once `migrate` has applied the TTL migration (on a server with TTL),
    // the sweeper stands down: TTL does this work there.
    assert!(!sweeper.has_ttl().await.expect("schema_migrations"));
    h.db.query("INSERT INTO schema_migrations (version) VALUES (?)")
        .bind(downpour::sink::retention::TTL_MIGRATION)
        .execute()
        .await
        .expect("recorded");
    assert!(sweeper.has_ttl().await.expect("schema_migrations"));
    h.stop().await;
}
