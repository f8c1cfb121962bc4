//! Partial events: single-object patches, is_pending, ordering, the required event_id.

use super::*;

#[test]
fn partial_single_object_patch() {
    // docs/CONTRACT.md (product brief): the Python SDK posts "`events/track_partial` (a single object)".
    let row = one_row(
        StreamKind::PartialEvents,
        r#"{"event_id": "e1", "ai_data": {"output": "x"}, "properties": {"step": 2}, "is_pending": false}"#,
    );
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    assert_eq!(row.str("event_id"), "e1");
    assert!(is_uuid(row.str("patch_id")));
    // partial.rs: "later patches carry only what changed, so every content field is optional".
    assert_eq!(row.str("user_id"), "");
    assert_eq!(row.str("event"), "");
    assert_eq!(row.str("ai_input"), "");
    assert_eq!(row.str("ai_output"), "x");
    assert_eq!(row.json("properties"), json!({"step": 2}));
    // sql/0001_init.sql: "Empty strings mean "not in this patch"".
    assert_eq!(row.str("attachments"), "");
    assert_eq!(row.u8("properties_truncated"), 0);
    assert_eq!(row.u8("is_pending"), 0);
    assert_eq!(row.u64("seq"), RECEIVED_US);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
}

#[test]
fn partial_without_is_pending_is_pending() {
    // docs/CONTRACT.md (product brief): "`is_pending` true until the final patch"; partial.rs: "A patch
    // without `is_pending` counts as pending."
    for body in [
        r#"{"event_id": "e1", "user_id": "u", "event": "chat", "ai_data": {"input": "q"}}"#,
        r#"{"event_id": "e1", "is_pending": null}"#,
    ] {
        let row = one_row(StreamKind::PartialEvents, body);
        assert_eq!(row.u8("is_pending"), 1, "{body}");
        assert_eq!(
            row.str("properties"),
            "",
            "absent properties are not in this patch"
        );
    }
    let row = one_row(
        StreamKind::PartialEvents,
        r#"{"event_id": "e1", "is_pending": true}"#,
    );
    assert_eq!(row.u8("is_pending"), 1);
}

#[test]
fn partial_patches_in_one_request_are_ordered() {
    let rows = rows_of(
        StreamKind::PartialEvents,
        r#"[{"event_id": "e1", "ai_data": {"input": "q"}},
            {"event_id": "e1", "ai_data": {"model": "m"}},
            {"event_id": "e1", "ai_data": {"output": "a"}, "is_pending": false}]"#,
    );
    let seqs: Vec<u64> = rows.iter().map(|r| r.u64("seq")).collect();
    assert_eq!(seqs, [RECEIVED_US, RECEIVED_US + 1, RECEIVED_US + 2]);
    assert_ne!(rows[0].str("patch_id"), rows[1].str("patch_id"));
    assert_ne!(rows[1].str("patch_id"), rows[2].str("patch_id"));
    assert_eq!(rows[1].str("ai_model"), "m");
}

#[test]
fn partial_requires_event_id() {
    // docs/CONTRACT.md (product brief): "partial AI events merged by `event_id` (always required)".
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"ai_data": {"output": "x"}, "is_pending": false}"#,
        400,
        "event_id",
        "required",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"[{"event_id": "e"}, {"event_id": null}]"#,
        400,
        "[1].event_id",
        "required",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"event_id": ""}"#,
        400,
        "event_id",
        "empty",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"event_id": "e", "is_pending": "no"}"#,
        400,
        "is_pending",
        "true or false",
    );
}
