//! Refusals: status and exact param of each bad field, body, item count and nesting.

use super::*;

#[test]
fn event_required_fields_name_the_item() {
    // docs/CONTRACT.md ("HTTP API"): `user_id` "The unique identifier of the user", `event`
    // "The name of the event" (not optional, unlike the fields marked "(Optional)").
    assert_refused(
        StreamKind::Events,
        r#"[{"event": "e"}]"#,
        400,
        "[0].user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": null, "event": "e"}]"#,
        400,
        "[0].user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "", "event": "e"}]"#,
        400,
        "[0].user_id",
        "empty",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": 42, "event": "e"}]"#,
        400,
        "[0].user_id",
        "must be a string",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e"}, {"user_id": "u", "event": 7}]"#,
        400,
        "[1].event",
        "must be a string",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u"}]"#,
        400,
        "[0].event",
        "required",
    );
    // A single object body has no index.
    assert_refused(
        StreamKind::Events,
        r#"{"event": "e"}"#,
        400,
        "user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e"}, "x"]"#,
        400,
        "[1]",
        "object",
    );
}

#[test]
fn ids_are_bounded() {
    let ok = "u".repeat(fields::MAX_ID_BYTES);
    let long = "u".repeat(fields::MAX_ID_BYTES + 1);
    let body = |id: &str| format!(r#"[{{"user_id": "{id}", "event": "e"}}]"#);
    assert_eq!(one_row(StreamKind::Events, &body(&ok)).str("user_id"), ok);
    assert_refused(
        StreamKind::Events,
        &body(&long),
        400,
        "[0].user_id",
        "longer",
    );
    let body = format!(r#"[{{"user_id": "u", "event": "e", "event_id": "{long}"}}]"#);
    assert_refused(StreamKind::Events, &body, 400, "[0].event_id", "longer");
}

#[test]
fn ai_data_needs_input_or_output() {
    // docs/CONTRACT.md ("HTTP API"): `ai_data` "If provided, either input or output (or both) is required".
    for ai in [
        "{}",
        r#"{"model": "gpt"}"#,
        r#"{"model": "gpt", "convo_id": "c"}"#,
        r#"{"input": null, "output": null}"#,
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {ai}}}]"#);
        assert_refused(
            StreamKind::Events,
            &body,
            400,
            "[0].ai_data",
            "input or output",
        );
    }
    for (ai, input, output) in [
        (r#"{"input": "q"}"#, "q", ""),
        (r#"{"output": "a"}"#, "", "a"),
        (r#"{"input": "q", "output": "a"}"#, "q", "a"),
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {ai}}}]"#);
        let row = one_row(StreamKind::Events, &body);
        assert_eq!((row.str("ai_input"), row.str("ai_output")), (input, output));
    }
    // ai_data: null is absent (docs/CONTRACT.md (product brief): "if present, input or output is required").
    one_row(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e", "ai_data": null}]"#,
    );
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": "text"}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data", "object");
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": {"input": 1}}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data.input", "string");
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": {"output": "a", "model": []}}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data.model", "string");
}

#[test]
fn attachment_errors_name_the_attachment() {
    // docs/CONTRACT.md (product brief): "`{type: code|text|image|iframe, value, name?, role?: input|output|context, language?}`".
    let body = |a: &str| format!(r#"[{{"user_id": "u", "event": "e", "attachments": {a}}}]"#);
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "video", "value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "code, text, image, iframe",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": 3, "value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        &body(
            r#"[{"type": "text", "value": "x"}, {"type": "text", "value": "y", "role": "assistant"}]"#,
        ),
        400,
        "[0].attachments[1].role",
        "input, output, context",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "text"}]"#),
        400,
        "[0].attachments[0].value",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "text", "value": {"a": 1}}]"#),
        400,
        "[0].attachments[0].value",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "code", "value": "x", "language": 5}]"#),
        400,
        "[0].attachments[0].language",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"["x"]"#),
        400,
        "[0].attachments[0]",
        "object",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"{"type": "text"}"#),
        400,
        "[0].attachments",
        "array",
    );
}

#[test]
fn properties_and_traits_must_be_objects() {
    // docs/CONTRACT.md ("HTTP API"): `properties` | object; `traits` | object.
    for v in ["[1, 2]", r#""text""#, "3", "true"] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {v}}}]"#);
        assert_refused(StreamKind::Events, &body, 400, "[0].properties", "object");
        let body = format!(r#"[{{"user_id": "u", "traits": {v}}}]"#);
        assert_refused(StreamKind::Users, &body, 400, "[0].traits", "object");
    }
}

#[test]
fn malformed_bodies_are_400_body() {
    for kind in StreamKind::JSON {
        for body in [
            &b""[..],
            b"   ",
            b"not json",
            b"[{\"user_id\": \"u\",",
            b"[{\"user_id\": \"u\"}",
            b"[{\"user_id\": \"u\"}]]",
            b"[{\"user_id\": \"u\"}] trailing",
            b"[{'user_id': 'u'}]",
            b"[{\"user_id\": \"u\",}]",
            b"[{\"user_id\": \"\xff\xfe\", \"event\": \"e\"}]",
            b"[{\"user_id\": \"\xc0\xaf\", \"event\": \"e\"}]",
            b"[{\"user_id\": \"\xed\xa0\x80\", \"event\": \"e\"}]",
            b"\xef\xbb\xbf\xff",
        ] {
            let e = refused_bytes(kind, &limits(kind), body);
            assert_eq!(
                (e.status, e.param.as_str()),
                (400, "body"),
                "{kind:?} {body:?}"
            );
        }
        for body in ["42", "\"a string\"", "null", "true", "1.5"] {
            let e = refused(kind, body);
            assert_eq!(
                (e.status, e.param.as_str()),
                (400, "body"),
                "{kind:?} {body}"
            );
            assert!(e.reason.contains("array"), "{e:?}");
        }
        let e = refused(kind, "[]");
        assert_eq!((e.status, e.param.as_str()), (400, "body"));
        assert!(e.reason.contains("at least one"), "{e:?}");
        let e = refused(kind, "[1]");
        assert_eq!((e.status, e.param.as_str()), (400, "[0]"));
    }
}

#[test]
fn lone_surrogate_escape_is_refused_or_stored_as_utf8() {
    // JSON allows `\ud800` syntactically; whatever the parser does, the row
    // must hold valid UTF-8 (the reader checks) and nothing may panic.
    let body = r#"[{"user_id": "u\ud800", "event": "e\udc00x"}]"#;
    match run(StreamKind::Events, body) {
        Ok(enc) => {
            decode(StreamKind::Events, &enc.records);
        }
        Err(e) => assert_eq!(e.status, 400, "{e:?}"),
    }
}

#[test]
fn item_count_is_limited() {
    let three = r#"[{"user_id": "u", "event": "e"}, {"user_id": "u", "event": "e"}, {"user_id": "u", "event": "e"}]"#;
    let few = Limits {
        max_items: 3,
        max_item_bytes: 1 << 20,
    };
    assert_eq!(
        run_with(StreamKind::Events, &few, three.as_bytes())
            .expect("at the limit")
            .items,
        3
    );
    let four = three.replacen('[', r#"[{"user_id": "u", "event": "e"}, "#, 1);
    let e = refused_bytes(StreamKind::Events, &few, four.as_bytes());
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    assert!(e.reason.contains("at most 3"), "{e:?}");

    // The configured limit (pipelines/events.toml: max_items = 10000).
    let max = limits(StreamKind::Events).max_items;
    let item = r#"{"user_id": "u", "event": "e"}"#;
    let body = format!("[{}]", vec![item; max + 1].join(","));
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    assert!(e.reason.contains(&max.to_string()), "{e:?}");
    let body = format!("[{}]", vec![item; max].join(","));
    let enc = run(StreamKind::Events, &body).expect("exactly max_items is accepted");
    assert_eq!(enc.items, max);
    assert_eq!(decode(StreamKind::Events, &enc.records).len(), max);
}

#[test]
fn deep_nesting_is_400_not_a_panic() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for kind in StreamKind::JSON {
        for n in [65, 1_000, 10_000, 100_000] {
            let e = refused(kind, &deep(n));
            assert_eq!((e.status, e.param.as_str()), (400, "body"), "{n}: {e:?}");
            assert!(e.reason.contains("nested"), "{n}: {e:?}");
        }
        // Unbalanced: not JSON at all.
        let e = refused(kind, &"[".repeat(10_000));
        assert_eq!((e.status, e.param.as_str()), (400, "body"));
        // Deep objects too.
        let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        let e = refused(kind, &objects);
        assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    }
    // MAX_DEPTH levels pass the depth check (then fail as not-an-object).
    let e = refused(StreamKind::Events, &deep(MAX_DEPTH));
    assert_eq!(e.param, "[0]", "{e:?}");

    // Inside properties.
    let props = |n: usize| {
        format!(
            r#"[{{"user_id": "u", "event": "e", "properties": {{"deep": {}}}}}]"#,
            deep(n)
        )
    };
    let e = refused(StreamKind::Events, &props(10_000));
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    // array(1) > item(2) > properties(3) > "deep": MAX_DEPTH - 3 more levels fit.
    let row = one_row(StreamKind::Events, &props(MAX_DEPTH - 3));
    assert_eq!(
        row.json("properties"),
        parse_json(&props(MAX_DEPTH - 3))[0]["properties"]
    );
    assert_eq!(
        refused(StreamKind::Events, &props(MAX_DEPTH - 2)).param,
        "body"
    );
}

#[test]
fn one_bad_item_refuses_the_whole_request() {
    // mod.rs: "The request is accepted whole or refused whole".
    let mut items: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"user_id": "u{i}", "event": "e"}}"#))
        .collect();
    items[4] = r#"{"user_id": "u4"}"#.to_string();
    let body = format!("[{}]", items.join(","));
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (400, "[4].event"));

    // The first bad item is the one named.
    items[2] = r#"{"event": "e"}"#.to_string();
    let body = format!("[{}]", items.join(","));
    assert_eq!(refused(StreamKind::Events, &body).param, "[2].user_id");

    // A 413 on item 5 of 6 refuses the request too.
    let mut items: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"user_id": "u{i}", "event": "e"}}"#))
        .collect();
    items[4] = format!(
        r#"{{"user_id": "u", "event": "e", "ai_data": {{"input": "{}"}}}}"#,
        "x".repeat(5000)
    );
    let body = format!("[{}]", items.join(","));
    let e = refused_bytes(StreamKind::Events, &small_limits(4096), body.as_bytes());
    assert_eq!((e.status, e.param.as_str()), (413, "[4]"));
}
