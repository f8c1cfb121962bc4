//! Size limits: properties truncated to the item limit, 413 for what cannot be, records split and headed.

use super::*;

fn many_keys(n: usize, value_len: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| format!(r#""k{i:05}": "{}""#, "v".repeat(value_len)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Checks a truncated properties column: valid JSON, marked, and keeps a
/// prefix of the original keys in order (at least `min_kept` of them).
#[track_caller]
fn assert_truncated_prefix(text: &str, original: &Json, min_kept: usize) {
    let got = parse_json(text);
    let got = got.as_object().expect("properties stay an object");
    assert_eq!(got.get(fields::TRUNCATED_MARK), Some(&json!(true)));
    let original = original.as_object().expect("object");
    let kept: Vec<&String> = got
        .keys()
        .filter(|k| *k != fields::TRUNCATED_MARK)
        .collect();
    assert!(
        kept.len() >= min_kept,
        "only {} keys kept of {}",
        kept.len(),
        original.len()
    );
    assert!(kept.len() < original.len(), "nothing was cut");
    for (k, want) in kept.iter().zip(original.keys()) {
        assert_eq!(*k, want, "kept keys are the first ones, in order");
        assert_eq!(
            got[k.as_str()],
            original[k.as_str()],
            "kept values are whole"
        );
    }
}

#[test]
fn oversized_properties_are_truncated_not_refused() {
    // docs/CONTRACT.md ("HTTP API"): "Event has a limit of 1 MB. Properties will be truncated
    // for larger events." docs/CONTRACT.md (product brief): "An event over 1 MB has its properties
    // truncated, not the whole request rejected."
    let limit = 4096;
    let props = many_keys(100, 100);
    let body = format!(
        r#"[{{"user_id": "u", "event": "small", "properties": {{"a": 1}}}},
            {{"user_id": "u", "event": "big", "ai_data": {{"input": "q"}}, "properties": {props}}}]"#
    );
    let enc = run_with(StreamKind::Events, &small_limits(limit), body.as_bytes())
        .expect("truncated, not refused");
    assert_eq!((enc.items, enc.truncated), (2, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    assert_eq!(rows[0].u8("properties_truncated"), 0);
    assert_eq!(rows[0].json("properties"), json!({"a": 1}));
    let big = &rows[1];
    assert!(big.len <= limit, "row is {} bytes, limit {limit}", big.len);
    assert_eq!(big.u8("properties_truncated"), 1);
    assert_eq!(big.str("event"), "big");
    assert_eq!(big.str("ai_input"), "q");
    // ~110 bytes per entry in a ~4 KB budget: most of the budget is used.
    assert_truncated_prefix(big.str("properties"), &parse_json(&props), 25);
}

#[test]
fn truncation_applies_to_signals_users_and_partials() {
    let limit = 4096;
    let props = many_keys(100, 100);
    let original = parse_json(&props);
    let cases = [
        (
            StreamKind::Signals,
            format!(r#"[{{"event_id": "e", "signal_name": "s", "properties": {props}}}]"#),
            "properties",
        ),
        (
            StreamKind::Users,
            format!(r#"{{"user_id": "u", "traits": {props}}}"#),
            "traits",
        ),
        (
            StreamKind::PartialEvents,
            format!(r#"{{"event_id": "e", "properties": {props}}}"#),
            "properties",
        ),
    ];
    for (kind, body, column) in cases {
        let enc = run_with(kind, &small_limits(limit), body.as_bytes())
            .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        assert_eq!(enc.truncated, 1, "{kind:?}");
        let rows = decode(kind, &enc.records);
        assert!(rows[0].len <= limit, "{kind:?}: {} bytes", rows[0].len);
        assert_truncated_prefix(rows[0].str(column), &original, 25);
        if kind == StreamKind::PartialEvents {
            assert_eq!(rows[0].u8("properties_truncated"), 1);
        }
    }
}

#[test]
fn real_limit_truncates_a_one_and_a_half_megabyte_event() {
    let limits = limits(StreamKind::Events);
    assert_eq!(
        limits.max_item_bytes, 1_048_576,
        "pipelines/events.toml: 1 MB"
    );
    // 1,500 keys of ~1 KB: ~1.5 MB of properties.
    let props = many_keys(1500, 1000);
    assert!(props.len() > 1_500_000);
    let body = format!(
        r#"[{{"user_id": "u", "event": "e", "event_id": "big-1", "properties": {props}}}]"#
    );
    let enc =
        run_with(StreamKind::Events, &limits, body.as_bytes()).expect("truncated, not refused");
    assert_eq!((enc.items, enc.truncated), (1, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    let row = &rows[0];
    assert!(row.len <= limits.max_item_bytes, "row is {} bytes", row.len);
    assert!(row.len > 1_000_000, "the budget is used: {} bytes", row.len);
    assert_eq!(row.str("event_id"), "big-1");
    assert_eq!(row.u8("properties_truncated"), 1);
    assert_truncated_prefix(row.str("properties"), &parse_json(&props), 1000);
}

#[test]
fn an_item_too_large_without_properties_is_413() {
    // Truncating properties cannot help: the item is refused, named.
    let limit = 4096;
    let input = "x".repeat(5000);
    for body in [
        format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}}}]"#),
        format!(
            r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}, "properties": {{"a": 1}}}}]"#
        ),
    ] {
        let e = refused_bytes(StreamKind::Events, &small_limits(limit), body.as_bytes());
        assert_eq!((e.status, e.param.as_str()), (413, "[0]"), "{e:?}");
    }
    // The same at the real 1 MB limit.
    let input = "x".repeat(1_100_000);
    let body = format!(
        r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}, "properties": {{"a": 1}}}}]"#
    );
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (413, "[0]"), "{e:?}");
    let body = format!(r#"{{"event_id": "e", "ai_data": {{"output": "{input}"}}}}"#);
    let e = refused(StreamKind::PartialEvents, &body);
    assert_eq!((e.status, e.param.as_str()), (413, "body"), "{e:?}");
}

#[test]
fn large_requests_split_into_records() {
    // mod.rs: "A record is closed once it holds this many bytes (one event may overshoot it)."
    let n = 30;
    let input = "i".repeat(100_000);
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"user_id": "u{i}", "event": "e", "ai_data": {{"input": "{input}"}}}}"#)
        })
        .collect();
    let body = format!("[{}]", items.join(","));
    let enc = run(StreamKind::Events, &body).expect("accepted");
    assert_eq!(enc.items, n);
    assert!(enc.records.len() >= 5, "{} records", enc.records.len());
    let mut total = 0u32;
    for (i, rec) in enc.records.iter().enumerate() {
        assert_eq!(rec[0], 0xD0, "record {i} magic");
        let view = record::parse(rec, StreamKind::Events).expect("valid record");
        assert!(view.rows > 0);
        total += view.rows;
        if i + 1 < enc.records.len() {
            assert!(rec.len() >= RECORD_TARGET_BYTES, "record {i} closed early");
            assert!(
                rec.len() < RECORD_TARGET_BYTES + 110_000,
                "record {i} overshoots by more than one event: {}",
                rec.len()
            );
        }
    }
    assert_eq!(total as usize, n);
    let rows = decode(StreamKind::Events, &enc.records);
    let users: Vec<String> = rows.iter().map(|r| r.str("user_id").to_string()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    assert_eq!(users, want, "rows stay in request order across records");
    assert!(rows.iter().all(|r| r.str("ai_input") == input));
}

#[test]
fn every_kind_writes_its_own_header() {
    let bodies = [
        (StreamKind::Events, r#"[{"user_id": "u", "event": "e"}]"#),
        (
            StreamKind::Signals,
            r#"[{"event_id": "e", "signal_name": "s"}]"#,
        ),
        (StreamKind::Users, r#"{"user_id": "u"}"#),
        (StreamKind::PartialEvents, r#"{"event_id": "e"}"#),
    ];
    for (kind, body) in bodies {
        let enc = run(kind, body).expect("accepted");
        assert_eq!(enc.records.len(), 1);
        let rec = &enc.records[0];
        assert_eq!(&rec[..3], &[0xD0, record::VERSION, kind.tag()], "{kind:?}");
        assert_eq!(&rec[3..7], &1u32.to_le_bytes(), "{kind:?}");
        decode(kind, &enc.records);
    }
}
