//! Events: ids (generated, kept, stable on retry), properties, defaults and SDK shapes.

use super::*;

#[test]
fn event_ids_are_generated_distinct_and_kept_when_given() {
    let rows = rows_of(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "a"},
            {"user_id": "u", "event": "b", "event_id": null},
            {"user_id": "u", "event": "c", "event_id": "evt-given-1"},
            {"user_id": "u", "event": "d"},
            {"user_id": "u", "event": "e", "event_id": ""}]"#,
    );
    let ids: Vec<&str> = rows.iter().map(|r| r.str("event_id")).collect();
    assert_eq!(ids[2], "evt-given-1");
    for (i, id) in ids.iter().enumerate() {
        assert!(!id.is_empty(), "[{i}] has no event_id");
        if i != 2 {
            assert!(is_uuid(id), "[{i}] generated id {id}");
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids repeat: {ids:?}");
    let events: Vec<&str> = rows.iter().map(|r| r.str("event")).collect();
    assert_eq!(events, ["a", "b", "c", "d", "e"], "rows keep request order");
}

#[test]
fn properties_json_round_trips() {
    // Escapes, non-ASCII, numbers at the edges of their types, nesting.
    let properties = r#"{
        "quote\"key": "a \"quoted\" \\ back\\slash\n\t\u0001\u001f end",
        "unicode": "é 中文 😀",
        "escaped_unicode": "\u00e9\ud83d\ude00\u2028",
        "slash": "a/b<\/script>",
        "nested": {"a": [1, -2, 3.5, 1e300, 0.1, 0.30000000000000004, 2.2250738585072014e-308,
                         null, true, false, {"b": [], "c": {}}]},
        "u64max": 18446744073709551615,
        "i64min": -9223372036854775808,
        "zero": 0, "negzero": -0.0, "exp": 12E-3,
        "empty_obj": {}, "empty_arr": [], "empty_str": "",
        "$context": {"library": {"name": "python-sdk", "version": "0.0.75"}}
    }"#;
    let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {properties}}}]"#);
    let row = one_row(StreamKind::Events, &body);
    assert_eq!(row.json("properties"), parse_json(properties));
    assert_eq!(row.u8("properties_truncated"), 0);

    let body = format!(r#"{{"user_id": "u", "traits": {properties}}}"#);
    let row = one_row(StreamKind::Users, &body);
    assert_eq!(row.json("traits"), parse_json(properties));

    let body = format!(r#"[{{"event_id": "e", "signal_name": "s", "properties": {properties}}}]"#);
    let row = one_row(StreamKind::Signals, &body);
    assert_eq!(row.json("properties"), parse_json(properties));
}

#[test]
fn string_fields_are_stored_unescaped() {
    // JSON escapes are decoded before storage; escaped keys are the same keys.
    let row = one_row(
        StreamKind::Events,
        r#"[{"user\u005fid": "u\"1", "event": "chat\n", "event_id": "\u00e9v",
             "ai_data": {"input": "l1\nl2 \"q\" \u00e9 \ud83d\ude00 \\", "output": "\t"}}]"#,
    );
    assert_eq!(row.str("user_id"), "u\"1");
    assert_eq!(row.str("event"), "chat\n");
    assert_eq!(row.str("event_id"), "év");
    assert_eq!(row.str("ai_input"), "l1\nl2 \"q\" é 😀 \\");
    assert_eq!(row.str("ai_output"), "\t");
}

#[test]
fn integers_beyond_64_bits_in_properties_are_accepted() {
    // docs/CONTRACT.md ("HTTP API"): `properties` | object | "(Optional) Additional properties
    // associated with the event" (any JSON object). docs/CONTRACT.md (product brief): the real SDKs "must
    // work against downpour unmodified". JavaScript's JSON.stringify writes numbers
    // below 1e21 without an exponent, Python's json.dumps writes big ints in full.
    for (text, value) in [
        ("18446744073709552000", 18_446_744_073_709_552_000.0), // JSON.stringify(2 ** 64)
        ("100000000000000000000", 1e20),                        // JSON.stringify(1e20)
        ("18446744073709551616", 18_446_744_073_709_551_616.0), // json.dumps(2 ** 64)
        ("-9223372036854775809", -9_223_372_036_854_775_809.0), // json.dumps(-2 ** 63 - 1)
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {{"n": {text}}}}}]"#);
        let row = one_row(StreamKind::Events, &body);
        let got = row.json("properties")["n"].as_f64();
        assert_eq!(got, Some(value), "{text}");
    }
}

#[test]
fn absent_optional_fields_get_defaults() {
    let row = one_row(StreamKind::Events, r#"[{"user_id": "u", "event": "e"}]"#);
    assert_eq!(row.str("properties"), "{}");
    assert_eq!(row.str("attachments"), "[]");
    for col in ["ai_model", "ai_input", "ai_output", "convo_id"] {
        assert_eq!(row.str(col), "", "{col}");
    }
}

#[test]
fn python_sdk_event_shape_with_nulls() {
    // docs/CONTRACT.md (product brief): the Python SDK posts with "explicit `null`s for absent optional fields".
    let body = r#"[{
        "event_id": "0b8e3c1e-8f0a-4a52-9a43-6d0f2b1f0c11",
        "user_id": "user-42",
        "event": "chat",
        "timestamp": "2024-01-02T03:04:05.500123",
        "properties": {"$context": {"library": {"name": "python-sdk"}}},
        "ai_data": {"model": null, "input": "hi", "output": null, "convo_id": null},
        "attachments": null
    }]"#;
    let row = one_row(StreamKind::Events, body);
    assert_eq!(row.str("event_id"), "0b8e3c1e-8f0a-4a52-9a43-6d0f2b1f0c11");
    assert_eq!(row.str("user_id"), "user-42");
    assert_eq!(row.str("ai_model"), "");
    assert_eq!(row.str("ai_input"), "hi");
    assert_eq!(row.str("ai_output"), "");
    assert_eq!(row.str("convo_id"), "");
    assert_eq!(row.str("attachments"), "[]");
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
}

#[test]
fn attachments_with_null_optional_fields_are_kept() {
    // docs/CONTRACT.md (product brief): "`attachments` (array of `{type: code|text|image|iframe, value, name?,
    // role?: input|output|context, language?}`)".
    let attachments = r#"[
        {"type": "text", "value": "plain", "name": null, "role": null, "language": null},
        {"type": "code", "value": "print(1)", "name": "snippet", "role": "context", "language": "python"},
        {"type": "iframe", "value": "https://example.com", "role": "output"},
        {"type": "image", "value": "data:image/png;base64,AAAA", "role": "input"}
    ]"#;
    let body = format!(r#"[{{"user_id": "u", "event": "e", "attachments": {attachments}}}]"#);
    let row = one_row(StreamKind::Events, &body);
    assert_eq!(row.json("attachments"), parse_json(attachments));
    let row = one_row(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e", "attachments": []}]"#,
    );
    assert_eq!(row.json("attachments"), json!([]));
}

#[test]
fn a_retried_identical_request_gets_the_same_ids() {
    // A client that got a 503 for a partly acknowledged request sends it again
    // (the Python SDK retries 5xx); items without ids must collapse, not double.
    let body = r#"[{"user_id": "u", "event": "e", "timestamp": "2026-11-23T20:06:38Z"},
                   {"user_id": "u", "event": "e", "timestamp": "2026-11-23T20:06:38Z"}]"#;
    let ids = |received_us: u64| -> Vec<String> {
        let env = Envelope {
            redaction: None,
            retention: crate::registry::projects::Retention::DEFAULT,
            received_us,
            ..env()
        };
        let mut bytes = body.as_bytes().to_vec();
        let encoded = encode(
            StreamKind::Events,
            &limits(StreamKind::Events),
            &mut bytes,
            &env,
        )
        .expect("valid");
        decode(StreamKind::Events, &encoded.records)
            .iter()
            .map(|r| r.str("event_id").to_string())
            .collect()
    };
    let first = ids(1_000_000);
    assert_eq!(first, ids(9_000_000), "same request later: same ids");
    assert_ne!(
        first[0], first[1],
        "identical items of one request stay two events"
    );
    assert!(first.iter().all(|id| is_uuid(id)));

    let signals =
        r#"[{"event_id": "x", "signal_name": "thumbs_up", "timestamp": "2026-11-23T20:06:38Z"}]"#;
    let signal_id = |received_us: u64| {
        let env = Envelope {
            redaction: None,
            retention: crate::registry::projects::Retention::DEFAULT,
            received_us,
            ..env()
        };
        let mut bytes = signals.as_bytes().to_vec();
        let encoded = encode(
            StreamKind::Signals,
            &limits(StreamKind::Signals),
            &mut bytes,
            &env,
        )
        .expect("valid");
        decode(StreamKind::Signals, &encoded.records)[0]
            .str("signal_id")
            .to_string()
    };
    assert_eq!(signal_id(1), signal_id(2));

    // Without a timestamp the item could be a new event with the same content: random ids.
    let untimed = r#"[{"user_id": "u", "event": "e"}]"#;
    assert_ne!(
        one_row(StreamKind::Events, untimed).str("event_id"),
        one_row(StreamKind::Events, untimed).str("event_id")
    );
}

#[test]
fn feature_flags_and_unknown_fields_are_kept_not_dropped() {
    // Issue 10: `@raindrop-ai/ai-sdk` 0.3.0 sends `feature_flags` (string
    // values); anything else a client adds lands in `extra`.
    let body = r#"[{"user_id": "u", "event": "e", "feature_flags": {"new_ui": "true", "pct": "5"},
                    "sdk_extra": {"a": [1, 2]}, "n": 7},
                   {"user_id": "u", "event": "e"}]"#;
    let rows = rows_of(StreamKind::Events, body);
    assert_eq!(
        rows[0].json("feature_flags"),
        json!({"new_ui": "true", "pct": "5"})
    );
    assert_eq!(
        rows[0].json("extra"),
        json!({"sdk_extra": {"a": [1, 2]}, "n": 7})
    );
    assert_eq!(
        (rows[1].str("feature_flags"), rows[1].str("extra")),
        ("{}", "{}")
    );
    let patch = r#"{"event_id": "p", "feature_flags": {"a": "true"}, "client_seq": 3}"#;
    let row = one_row(StreamKind::PartialEvents, patch);
    assert_eq!(row.json("feature_flags"), json!({"a": "true"}));
    assert_eq!(row.json("extra"), json!({"client_seq": 3}));
    let bare = one_row(StreamKind::PartialEvents, r#"{"event_id": "p"}"#);
    assert_eq!(
        (bare.str("feature_flags"), bare.str("extra")),
        ("", ""),
        "not in this patch"
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e", "feature_flags": ["a"]}]"#,
        400,
        "[0].feature_flags",
        "object",
    );
}
