//! The spec's examples (docs/CONTRACT.md ("HTTP API")), verbatim, and the SDK shapes of identify.

use super::*;

/// docs/CONTRACT.md ("HTTP API"), "Track Event", "Example Request - AI Interaction",
/// verbatim.
pub(super) const DOC_EVENT: &str = r#"[{
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
    {
        "type": "image",
        "value": "https://example.com/image.png",
        "role": "output"
    },
    {
        "type": "code",
        "name": "Example Code",
        "value": "console.log('Hello, World!');",
        "role": "input",
        "language": "javascript"
    }
  ]
}]"#;

/// docs/CONTRACT.md ("HTTP API"), "Track Signal", "Example Request", verbatim.
const DOC_SIGNAL: &str = r#"[
{
  "event_id": "123456789",
  "signal_name": "thumbs_up",
  "sentiment": "POSITIVE",
  "properties": {
    "location": "chat_ui"
  },
  "signal_type": "default"
}]"#;

/// docs/CONTRACT.md ("HTTP API"), "Identify User", "Example Request", without the
/// `//we recommend 'free', 'paid', 'trial'` comment (JSON has no comments).
const DOC_IDENTIFY: &str = r#"{
  "user_id": "user123",
  "traits": {
    "name": "John Doe",
    "email": "john@example.com",
    "age": 30,
    "plan": "paid"
  }
}"#;

#[test]
fn doc_event_example_encodes_every_field() {
    let enc = run(StreamKind::Events, DOC_EVENT).expect("the documented example is accepted");
    assert_eq!((enc.items, enc.truncated, enc.records.len()), (1, 0, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    let row = &rows[0];
    let doc = parse_json(DOC_EVENT);
    let item = &doc[0];
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    // event.rs: "An item without `event_id` gets one here".
    assert!(is_uuid(row.str("event_id")), "{}", row.str("event_id"));
    assert_eq!(row.str("user_id"), "user123");
    assert_eq!(row.str("event"), "ai_interaction");
    // No timestamp: the receive time stands in.
    assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
    assert_eq!(row.str("ai_model"), "gpt_4");
    assert_eq!(row.str("ai_input"), "What is the weather like today?");
    assert_eq!(row.str("ai_output"), "The weather is sunny and warm.");
    assert_eq!(row.str("convo_id"), "conv789");
    assert_eq!(row.json("properties"), item["properties"]);
    assert_eq!(row.json("attachments"), item["attachments"]);
    assert_eq!(row.u8("properties_truncated"), 0);
}

#[test]
fn doc_signal_example_encodes_every_field() {
    let row = one_row(StreamKind::Signals, DOC_SIGNAL);
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    // signal.rs: "Signals carry no id of their own; the edge gives each one".
    assert!(is_uuid(row.str("signal_id")));
    assert_eq!(row.str("event_id"), "123456789");
    assert_eq!(row.str("signal_name"), "thumbs_up");
    assert_eq!(row.str("signal_type"), "default");
    assert_eq!(row.str("sentiment"), "POSITIVE");
    assert_eq!(row.str("attachment_id"), "");
    assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
    assert_eq!(row.json("properties"), json!({"location": "chat_ui"}));
}

#[test]
fn doc_identify_example_as_object_and_as_array() {
    // docs/CONTRACT.md (product brief): "`POST /v1/users/identify` — `{user_id, traits}` (accept an array too)."
    let traits = parse_json(DOC_IDENTIFY)["traits"].clone();
    for body in [DOC_IDENTIFY.to_string(), format!("[{DOC_IDENTIFY}]")] {
        let enc = run(StreamKind::Users, &body).expect("identify example is accepted");
        assert_eq!(enc.items, 1);
        let rows = decode(StreamKind::Users, &enc.records);
        let row = &rows[0];
        assert_eq!(row.str("org"), ORG);
        assert_eq!(row.str("project"), PROJECT);
        assert_eq!(row.str("user_id"), "user123");
        assert_eq!(row.json("traits"), traits);
        assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
        assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
        assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
        // sql/0001_init.sql: "The latest identify call wins (version = edge receive time in microseconds)."
        assert_eq!(row.u64("version"), RECEIVED_US);
    }
}

#[test]
fn identify_with_comment_as_in_the_doc_is_not_json() {
    // The doc's example carries a `//` comment; JSON has none, so it is a 400.
    let with_comment = DOC_IDENTIFY.replace(
        "\"plan\": \"paid\"",
        "\"plan\": \"paid\" //we recommend 'free', 'paid', 'trial'",
    );
    assert_refused(StreamKind::Users, &with_comment, 400, "body", "JSON");
}

#[test]
fn identify_python_sdk_array_of_users() {
    let rows = rows_of(
        StreamKind::Users,
        r#"[{"user_id": "u1", "traits": {"plan": "free"}},
            {"user_id": "u2", "traits": null},
            {"user_id": "u3"}]"#,
    );
    let ids: Vec<&str> = rows.iter().map(|r| r.str("user_id")).collect();
    assert_eq!(ids, ["u1", "u2", "u3"]);
    assert_eq!(rows[0].json("traits"), json!({"plan": "free"}));
    assert_eq!(rows[1].json("traits"), json!({}));
    assert_eq!(rows[2].json("traits"), json!({}));
}
