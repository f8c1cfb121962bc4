//! Event timestamps: ISO forms, the DateTime range, garbage refused, null as receive time.

use super::*;

#[test]
fn timestamp_iso_forms_give_seconds_and_milliseconds() {
    // docs/CONTRACT.md (product brief): "optional `event_id`, `timestamp` (ISO 8601)".
    for ts in [
        "2024-01-02T03:04:05.500Z",         // JS toISOString()
        "2024-01-02T04:04:05.500+01:00",    // any offset
        "2024-01-02T03:04:05.500123",       // Python isoformat(), naive = UTC
        "2024-01-02T03:04:05.500123+00:00", // Python aware isoformat()
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "timestamp": "{ts}"}}]"#);
        let row = one_row(StreamKind::Events, &body);
        assert_eq!(row.datetime("timestamp"), 1_704_164_645, "{ts}");
        assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500, "{ts}");
        assert_eq!(row.datetime("received_at"), RECEIVED_SECS, "{ts}");
    }
    let row = one_row(
        StreamKind::Signals,
        r#"[{"event_id": "e", "signal_name": "s", "timestamp": "2024-01-02T03:04:05.500Z"}]"#,
    );
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
    let row = one_row(
        StreamKind::Users,
        r#"{"user_id": "u", "timestamp": "2024-01-02T03:04:05.500Z"}"#,
    );
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
}

#[test]
fn timestamp_range_is_what_datetime_holds() {
    // time.rs: "The range is what ClickHouse's `DateTime` holds: 1970-01-01 to
    // 2106-02-07; outside it is a 400, not a silently wrapped date."
    let body = |ts: &str| format!(r#"[{{"user_id": "u", "event": "e", "timestamp": "{ts}"}}]"#);
    let first = one_row(StreamKind::Events, &body("1970-01-01T00:00:00Z"));
    assert_eq!(
        (first.datetime("timestamp"), first.u64("timestamp_ms")),
        (0, 0)
    );
    let last = one_row(StreamKind::Events, &body("2106-02-07T06:28:15Z"));
    assert_eq!(last.datetime("timestamp"), u32::MAX);
    for ts in [
        "2106-02-07T06:28:16Z",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00Z",
    ] {
        assert_refused(
            StreamKind::Events,
            &body(ts),
            400,
            "[0].timestamp",
            "between",
        );
    }
}

#[test]
fn timestamp_garbage_is_refused() {
    let body = |v: &str| format!(r#"[{{"user_id": "u", "event": "e", "timestamp": {v}}}]"#);
    for v in [
        r#""yesterday""#,
        r#""""#,
        r#""2024-13-01T00:00:00Z""#,
        r#""2024-01-02T03:04:05.500ZZ""#,
        r#""2024-02-30T00:00:00Z""#,
    ] {
        assert_refused(
            StreamKind::Events,
            &body(v),
            400,
            "[0].timestamp",
            "ISO 8601",
        );
    }
    // A number is not an ISO string (epoch seconds are not accepted).
    assert_refused(
        StreamKind::Events,
        &body("1704164645"),
        400,
        "[0].timestamp",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body("{}"),
        400,
        "[0].timestamp",
        "string",
    );
    // null means absent: receive time.
    let row = one_row(StreamKind::Events, &body("null"));
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
}
