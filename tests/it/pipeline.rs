//! End to end on the real broker and ClickHouse: HTTP → edge → Kafka →
//! consumer → ClickHouse, read back the way an analyst reads (the *_view views).

use crate::common::Harness;
use serde::Deserialize;

#[derive(Debug, clickhouse::Row, Deserialize)]
struct EventRow {
    project: String,
    event_id: String,
    user_id: String,
    event: String,
    timestamp: u32,
    timestamp_ms: u64,
    ai_model: String,
    ai_input: String,
    ai_output: String,
    convo_id: String,
    properties: String,
    attachments: String,
    properties_truncated: u8,
}

const EVENT_COLUMNS: &str = "SELECT project, event_id, user_id, event, timestamp, timestamp_ms, ai_model, ai_input, \
     ai_output, convo_id, properties, attachments, properties_truncated FROM events_view WHERE org = ?";

/// The AI-interaction example request of Raindrop's "HTTP API" page
/// (docs/CONTRACT.md §C8), with an event_id and a timestamp added.
fn seed_event(event_id: &str) -> serde_json::Value {
    serde_json::json!({
      "event_id": event_id,
      "timestamp": "2026-01-02T03:04:05.678Z",
      "user_id": "user123",
      "event": "ai_interaction",
      "properties": {
        "tool_call": "reasoning_engine",
        "system_prompt": "you are a helpful...",
        "experiment": "experiment_a"
      },
      "ai_data": {
        "model": "gpt_4",
        "input": "What is the weather like today?",
        "output": "The weather is sunny and warm.",
        "convo_id": "conv789"
      },
      "attachments": [
        {"type": "image", "value": "https://example.com/image.png", "role": "output"},
        {"type": "code", "name": "Example Code", "value": "console.log('Hello, World!');", "role": "input", "language": "javascript"}
      ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_in_the_project_of_their_header_with_every_field() {
    let h = Harness::start("fields").await;
    let key = h.write_key("acme").await;
    // docs/CONTRACT.md §C3: an omitted, empty or `default` slug lands in the `default`
    // ("Production") project; an active slug's data is stored in that project.
    let cases = [
        ("e-unset", None),
        ("e-empty", Some("")),
        ("e-default", Some("default")),
        ("e-support", Some("support-prod")),
    ];
    for (id, header) in cases {
        let body = serde_json::json!([seed_event(id)]).to_string();
        let r = h.post("/v1/events/track", Some(&key), header, &body).await;
        assert_eq!(r.status, 204, "{id}: {}", r.body);
    }
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 4)
            .await,
        4
    );
    let rows: Vec<EventRow> = h
        .rows(&format!("{EVENT_COLUMNS} ORDER BY event_id"), "acme")
        .await;
    let project_of = |id: &str| {
        rows.iter()
            .find(|r| r.event_id == id)
            .map(|r| r.project.as_str())
    };
    assert_eq!(project_of("e-unset"), Some("default"));
    assert_eq!(project_of("e-empty"), Some("default"));
    assert_eq!(project_of("e-default"), Some("default"));
    assert_eq!(project_of("e-support"), Some("support-prod"));

    let row = rows
        .iter()
        .find(|r| r.event_id == "e-support")
        .expect("row");
    let sent = seed_event("e-support");
    assert_eq!(
        (row.user_id.as_str(), row.event.as_str()),
        ("user123", "ai_interaction")
    );
    assert_eq!(
        row.timestamp_ms, 1_767_323_045_678,
        "2026-01-02T03:04:05.678Z to the millisecond"
    );
    assert_eq!(row.timestamp, 1_767_323_045);
    assert_eq!(
        (
            row.ai_model.as_str(),
            row.ai_input.as_str(),
            row.ai_output.as_str(),
            row.convo_id.as_str()
        ),
        (
            "gpt_4",
            "What is the weather like today?",
            "The weather is sunny and warm.",
            "conv789"
        )
    );
    let properties: serde_json::Value =
        serde_json::from_str(&row.properties).expect("properties JSON");
    assert_eq!(properties, sent["properties"]);
    let attachments: serde_json::Value =
        serde_json::from_str(&row.attachments).expect("attachments JSON");
    assert_eq!(attachments, sent["attachments"]);
    assert_eq!(row.properties_truncated, 0);

    // Ids are chosen by clients: the same event_id in another project, and in
    // another org, is another event (FINAL must not merge across them).
    let body = serde_json::json!([seed_event("e-support")]).to_string();
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("other"), &body)
            .await
            .status,
        204
    );
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 5)
            .await,
        5
    );

    // Another org's key writes elsewhere and never sees acme's rows.
    let other = h.write_key("globex").await;
    let r = h
        .post(
            "/v1/events/track",
            Some(&other),
            Some("support-prod"),
            &body,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "globex", 1)
            .await,
        1
    );
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 5)
            .await,
        5
    );
    h.stop().await;
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SignalRow {
    event_id: String,
    signal_name: String,
    signal_type: String,
    sentiment: String,
    properties: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct UserRow {
    user_id: String,
    traits: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_identify_and_partial_events_land() {
    let h = Harness::start("streams").await;
    let key = h.write_key("acme").await;

    // The "Track Signal" example request of Raindrop's "HTTP API" page (docs/CONTRACT.md §C9).
    let signal = r#"[{"event_id": "123456789", "signal_name": "thumbs_up", "sentiment": "POSITIVE",
                      "properties": {"location": "chat_ui"}, "signal_type": "default"}]"#;
    assert_eq!(
        h.post("/v1/signals/track", Some(&key), None, signal)
            .await
            .status,
        204
    );
    // The "Identify User" example (a single object, docs/CONTRACT.md §C10), then a newer identify.
    let first = r#"{"user_id": "user123", "traits": {"name": "John Doe", "email": "john@example.com", "age": 30, "plan": "paid"}}"#;
    assert_eq!(
        h.post("/v1/users/identify", Some(&key), None, first)
            .await
            .status,
        204
    );
    let second = r#"[{"user_id": "user123", "traits": {"name": "John Doe", "plan": "trial"}}]"#;
    assert_eq!(
        h.post("/v1/users/identify", Some(&key), None, second)
            .await
            .status,
        204
    );

    assert_eq!(
        h.wait_count("SELECT count() FROM signals_view WHERE org = ?", "acme", 1)
            .await,
        1
    );
    let signals: Vec<SignalRow> =
        h.rows("SELECT event_id, signal_name, signal_type, sentiment, properties FROM signals_view WHERE org = ?", "acme").await;
    let s = &signals[0];
    assert_eq!(
        (s.event_id.as_str(), s.signal_name.as_str()),
        ("123456789", "thumbs_up")
    );
    assert_eq!(
        (
            s.signal_type.as_str(),
            s.sentiment.as_str(),
            s.properties.as_str()
        ),
        ("default", "POSITIVE", r#"{"location":"chat_ui"}"#)
    );

    // Both identify rows are stored; the users view shows the latest traits only.
    assert_eq!(
        h.wait_count("SELECT count() FROM users WHERE org = ?", "acme", 2)
            .await,
        2
    );
    let users: Vec<UserRow> = h
        .rows(
            "SELECT user_id, traits FROM users_view WHERE org = ?",
            "acme",
        )
        .await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user_id, "user123");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&users[0].traits).ok(),
        Some(serde_json::json!({"name": "John Doe", "plan": "trial"}))
    );

    // Partial events (docs/CONTRACT.md §C11): event views are finalized-only, so an event
    // sent via track_partial appears once it is finalized, not while still pending.
    let begin = r#"{"event_id": "p1", "user_id": "u9", "event": "agent_run",
                    "ai_data": {"model": "m1", "input": "question", "convo_id": "c1"}, "is_pending": true}"#;
    assert_eq!(
        h.post(
            "/v1/events/track_partial",
            Some(&key),
            Some("agents"),
            begin
        )
        .await
        .status,
        204
    );
    assert_eq!(
        h.wait_count(
            "SELECT count() FROM partial_events WHERE org = ?",
            "acme",
            1
        )
        .await,
        1
    );
    let visible = "SELECT count() FROM events_view WHERE org = ? AND event_id = 'p1'";
    assert_eq!(
        h.wait_count(visible, "acme", 0).await,
        0,
        "a pending partial event is not visible"
    );

    let finish = r#"{"event_id": "p1", "ai_data": {"output": "answer"}, "properties": {"step": 2}, "is_pending": false}"#;
    assert_eq!(
        h.post(
            "/v1/events/track_partial",
            Some(&key),
            Some("agents"),
            finish
        )
        .await
        .status,
        204
    );
    assert_eq!(
        h.wait_count(visible, "acme", 1).await,
        1,
        "visible once finalized"
    );
    let rows: Vec<EventRow> = h
        .rows(&format!("{EVENT_COLUMNS} AND event_id = 'p1'"), "acme")
        .await;
    let e = &rows[0];
    assert_eq!(
        (e.project.as_str(), e.user_id.as_str(), e.event.as_str()),
        ("agents", "u9", "agent_run")
    );
    assert_eq!(
        (
            e.ai_model.as_str(),
            e.ai_input.as_str(),
            e.ai_output.as_str(),
            e.convo_id.as_str()
        ),
        ("m1", "question", "answer", "c1")
    );
    assert_eq!(e.properties, r#"{"step":2}"#);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_consumed_twice_counts_once_for_readers() {
    let h = Harness::start("replay").await;
    let key = h.write_key("acme").await;
    let body = serde_json::json!([seed_event("r1"), seed_event("r2"), {"user_id": "u", "event": "no_id_given"}]).to_string();
    assert_eq!(
        h.post("/v1/events/track", Some(&key), Some("p"), &body)
            .await
            .status,
        204
    );
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 3)
            .await,
        3
    );

    // A second consumer group replays the topics from the earliest offset: every
    // record is inserted again, as after a crash between INSERT and commit.
    let replayer = h.replayer().await;
    assert_eq!(
        h.wait_count("SELECT count() FROM events WHERE org = ?", "acme", 6)
            .await,
        6,
        "stored twice"
    );
    assert_eq!(
        h.wait_count("SELECT count() FROM events_view WHERE org = ?", "acme", 3)
            .await,
        3,
        "read once"
    );
    let distinct: u64 =
        h.db.query("SELECT uniqExact(event_id) FROM events_view WHERE org = ?")
            .bind("acme")
            .fetch_one()
            .await
            .expect("distinct");
    assert_eq!(distinct, 3);
    if let Some(running) = { replayer }.running.take() {
        running.stop().await;
    }
    h.stop().await;
}
