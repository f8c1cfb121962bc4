//! docs/CONTRACT.md §C24: every row carries the expiries the project's
//! retention gave it when the edge received it.

use super::*;

#[test]
fn every_stream_stamps_its_rows_with_the_project_s_expiries() {
    let env = Envelope {
        retention: crate::registry::projects::Retention {
            body_hours: 1,
            log_days: 7,
        },
        ..env()
    };
    let body_at = RECEIVED_SECS + 3600;
    let row_at = RECEIVED_SECS + 7 * 86_400;
    for (kind, item) in [
        (
            StreamKind::Events,
            r#"{"user_id":"u","event":"x","ai_data":{"input":"hi"},"timestamp":"2020-01-01T00:00:00Z"}"#,
        ),
        (
            StreamKind::PartialEvents,
            r#"{"event_id":"e1","ai_data":{"output":"yo"}}"#,
        ),
        (
            StreamKind::Signals,
            r#"{"event_id":"e1","signal_name":"s"}"#,
        ),
        (StreamKind::Users, r#"{"user_id":"u"}"#),
    ] {
        let encoded =
            encode(kind, &limits(kind), &mut item.as_bytes().to_vec(), &env).expect("valid");
        let rows = decode(kind, &encoded.records);
        // Counted from when the edge received it, not the event's own time.
        assert_eq!(rows[0].datetime("expires_at"), row_at, "{}", kind.name());
        if matches!(kind, StreamKind::Events | StreamKind::PartialEvents) {
            assert_eq!(rows[0].datetime("body_expires_at"), body_at);
        }
    }
}

#[test]
fn expiries_past_2106_stop_at_the_end_of_datetime() {
    let env = Envelope {
        retention: crate::registry::projects::Retention {
            body_hours: u32::MAX,
            log_days: u32::MAX,
        },
        ..env()
    };
    let encoded = encode(
        StreamKind::Events,
        &limits(StreamKind::Events),
        &mut br#"{"user_id":"u","event":"x"}"#.to_vec(),
        &env,
    )
    .expect("valid");
    let rows = decode(StreamKind::Events, &encoded.records);
    assert_eq!(rows[0].datetime("body_expires_at"), u32::MAX);
    assert_eq!(rows[0].datetime("expires_at"), u32::MAX);
}
