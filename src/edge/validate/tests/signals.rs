//! Signals: SDK shapes with nulls, exact enums, required fields.

use super::*;

#[test]
fn python_sdk_signal_with_explicit_nulls() {
    // docs/CONTRACT.md (product brief): "`signals/track` (with explicit `null`s for absent optional fields)".
    let rows = rows_of(
        StreamKind::Signals,
        r#"[{"event_id": "evt-1", "signal_name": "thumbs_down", "timestamp": null,
             "properties": null, "attachment_id": null, "signal_type": null, "sentiment": null},
            {"event_id": "evt-1", "signal_name": "edit", "timestamp": "2024-01-02T03:04:05.500Z",
             "properties": {"after": "x"}, "attachment_id": "att-9", "signal_type": "edit",
             "sentiment": "NEGATIVE"}]"#,
    );
    let a = &rows[0];
    assert_eq!(a.str("event_id"), "evt-1");
    assert_eq!(a.str("signal_name"), "thumbs_down");
    assert_eq!(a.str("signal_type"), "default");
    assert_eq!(a.str("sentiment"), "");
    assert_eq!(a.str("attachment_id"), "");
    assert_eq!(a.str("properties"), "{}");
    assert_eq!(a.u64("timestamp_ms"), RECEIVED_MS);
    let b = &rows[1];
    assert_eq!(b.str("signal_type"), "edit");
    assert_eq!(b.str("sentiment"), "NEGATIVE");
    assert_eq!(b.str("attachment_id"), "att-9");
    assert_eq!(b.json("properties"), json!({"after": "x"}));
    assert_eq!(b.u64("timestamp_ms"), 1_704_164_645_500);
    assert_ne!(a.str("signal_id"), b.str("signal_id"));
}

#[test]
fn signal_types_are_kept_as_sent_and_sentiments_are_exact() {
    // docs/CONTRACT.md ("HTTP API"): `signal_type` "(Optional) Type of signal: "default",
    // "feedback", "edit", or "standard""; `sentiment` "(Optional) One of "POSITIVE" or "NEGATIVE"".
    // Issue 10: `@raindrop-ai/ai-sdk` 0.3.0 sends "agent" and "agent_internal"
    // and hides a refusal, so every type is stored as sent.
    for t in [
        "default",
        "feedback",
        "edit",
        "standard",
        "agent",
        "agent_internal",
    ] {
        let body = format!(r#"[{{"event_id": "e", "signal_name": "s", "signal_type": "{t}"}}]"#);
        assert_eq!(one_row(StreamKind::Signals, &body).str("signal_type"), t);
    }
    let empty = r#"[{"event_id": "e", "signal_name": "s", "signal_type": ""}]"#;
    assert_eq!(
        one_row(StreamKind::Signals, empty).str("signal_type"),
        "default"
    );
    let sig = |field: &str, v: &str| {
        format!(r#"[{{"event_id": "e", "signal_name": "s", "{field}": {v}}}]"#)
    };
    for v in [r#""positive""#, r#""Positive""#, r#""NEUTRAL""#, r#""""#] {
        assert_refused(
            StreamKind::Signals,
            &sig("sentiment", v),
            400,
            "[0].sentiment",
            "POSITIVE",
        );
    }
    let long = format!("\"{}\"", "t".repeat(65));
    for (v, why) in [("7", "string"), (long.as_str(), "64 bytes")] {
        assert_refused(
            StreamKind::Signals,
            &sig("signal_type", v),
            400,
            "[0].signal_type",
            why,
        );
    }
    assert_refused(
        StreamKind::Signals,
        &sig("sentiment", "1"),
        400,
        "[0].sentiment",
        "string",
    );
    assert_refused(
        StreamKind::Signals,
        &sig("attachment_id", "7"),
        400,
        "[0].attachment_id",
        "string",
    );
}

#[test]
fn signal_required_fields() {
    // docs/CONTRACT.md ("HTTP API"): "Each signal must be associated with an `event_id`".
    assert_refused(
        StreamKind::Signals,
        r#"[{"signal_name": "s"}]"#,
        400,
        "[0].event_id",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": null, "signal_name": "s"}]"#,
        400,
        "[0].event_id",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": "e"}]"#,
        400,
        "[0].signal_name",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": "e", "signal_name": "s", "properties": [1]}]"#,
        400,
        "[0].properties",
        "object",
    );
}
