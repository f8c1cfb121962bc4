//! Spans into rows, decoded back with the tests' RowBinary reader.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
use serde_json::json;

use super::*;
use crate::pipeline::reader::decode;

const ENV: Envelope<'static> = Envelope {
    redaction: None,
    retention: crate::registry::projects::Retention::DEFAULT,
    org: "acme",
    project: "bot",
    received_us: 1_700_000_000_123_456,
};
const TRACE: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];

fn limits() -> Limits {
    Limits {
        max_items: 100,
        max_item_bytes: 4096,
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn span(id: u8, parent: Option<u8>, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: format!("span-{id}"),
        kind: 3,
        start_time_unix_nano: 1_700_000_000_500_000_000,
        end_time_unix_nano: 1_700_000_001_750_000_000,
        attributes,
        status: Some(Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "chat"),
                    text(
                        "traceloop.association.properties.user_id",
                        "u-from-resource",
                    ),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "ai".into(),
                    version: "5.0".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn a_span_becomes_one_row_with_its_links_and_json_attributes() {
    let attributes = vec![
        text("traceloop.association.properties.event_id", "ev-1"),
        text("ai.telemetry.metadata.raindrop.convoId", "c-1"),
        text("raindrop.eventName", "chat_message"),
        kv("n", Value::IntValue(-42)),
        kv("ok", Value::BoolValue(true)),
        kv("x", Value::DoubleValue(1.5)),
        kv("nan", Value::DoubleValue(f64::NAN)),
        kv("raw", Value::BytesValue(vec![1, 2, 3])),
        kv(
            "list",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::StringValue("quote \" and \u{1F600}".into())),
                }],
            }),
        ),
        kv(
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![text("k", "v")],
            }),
        ),
    ];
    let (encoded, rejected) = encode(
        &request(vec![span(1, Some(9), attributes)]),
        &limits(),
        &ENV,
    )
    .expect("encoded");
    assert_eq!((encoded.items, rejected.spans), (1, 0));
    let rows = decode(StreamKind::Spans, &encoded.records);
    let row = &rows[0];
    assert_eq!(row.str("org"), "acme");
    assert_eq!(row.str("project"), "bot");
    assert_eq!(row.str("trace_id"), "5b8efff798038103d269b633813fc60c");
    assert_eq!(row.str("span_id"), "0000000000000001");
    assert_eq!(row.str("parent_span_id"), "0000000000000009");
    assert_eq!(row.str("kind"), "client");
    assert_eq!(row.datetime("start_time"), 1_700_000_000);
    assert_eq!(row.u64("duration_ns"), 1_250_000_000);
    assert_eq!(
        (row.str("status_code"), row.str("status_message")),
        ("error", "boom")
    );
    assert_eq!(
        (row.str("scope_name"), row.str("scope_version")),
        ("ai", "5.0")
    );
    assert_eq!(row.str("event_id"), "ev-1");
    assert_eq!(row.str("convo_id"), "c-1");
    assert_eq!(row.str("event_name"), "chat_message");
    assert_eq!(
        row.str("user_id"),
        "u-from-resource",
        "the resource's, when the span has none"
    );
    assert_eq!(row.datetime("received_at"), 1_700_000_000);
    let attrs = row.json("attributes");
    assert_eq!(attrs["n"], json!(-42));
    assert_eq!(attrs["ok"], json!(true));
    assert_eq!(attrs["x"], json!(1.5));
    assert_eq!(attrs["nan"], json!(null));
    assert_eq!(attrs["raw"], json!("AQID"));
    assert_eq!(attrs["list"], json!(["quote \" and \u{1F600}"]));
    assert_eq!(attrs["map"], json!({"k": "v"}));
    assert_eq!(
        row.json("resource_attributes")["service.name"],
        json!("chat")
    );
    assert_eq!(row.json("events"), json!([]));
    assert_eq!(row.json("links"), json!([]));
}

#[test]
fn spans_with_bad_ids_are_left_out_and_named() {
    let mut no_trace = span(2, None, vec![]);
    no_trace.trace_id = vec![0; 16];
    let mut short = span(3, None, vec![]);
    short.span_id = vec![1, 2, 3];
    let mut bad_parent = span(4, None, vec![]);
    bad_parent.parent_span_id = vec![7; 5];
    let spans = vec![
        span(1, None, vec![]),
        no_trace,
        short,
        bad_parent,
        span(5, Some(1), vec![]),
    ];
    let (encoded, rejected) = encode(&request(spans), &limits(), &ENV).expect("encoded");
    assert_eq!((encoded.items, rejected.spans), (2, 3));
    let message = rejected.message();
    assert!(
        message.contains("resourceSpans[0].scopeSpans[0].spans[1].traceId"),
        "{message}"
    );
    assert!(message.contains("spans[2].spanId"), "{message}");
    assert!(message.contains("spans[3].parentSpanId"), "{message}");
    let rows = decode(StreamKind::Spans, &encoded.records);
    let ids: Vec<&str> = rows.iter().map(|r| r.str("span_id")).collect();
    assert_eq!(ids, ["0000000000000001", "0000000000000005"]);
    assert_eq!(rows[0].str("parent_span_id"), "", "a root span");
}

#[test]
fn an_oversized_span_is_rejected_and_too_many_spans_refuse_the_export() {
    let big = vec![text("blob", &"x".repeat(5000))];
    let (encoded, rejected) = encode(
        &request(vec![span(1, None, big), span(2, None, vec![])]),
        &limits(),
        &ENV,
    )
    .expect("encoded");
    assert_eq!((encoded.items, rejected.spans), (1, 1));
    assert!(rejected.message().contains("larger than 4096 bytes"));
    assert_eq!(decode(StreamKind::Spans, &encoded.records).len(), 1);
    let many: Vec<Span> = (0..101).map(|i| span(i as u8 + 1, None, vec![])).collect();
    assert!(matches!(
        encode(&request(many), &limits(), &ENV),
        Err(TooManySpans(101))
    ));
    let (empty, none) = encode(&request(vec![]), &limits(), &ENV).expect("empty");
    assert!(empty.records.is_empty() && none.spans == 0);
}

#[test]
fn deep_values_are_cut_off_not_recursed_without_bound() {
    let mut value = AnyValue {
        value: Some(Value::StringValue("leaf".into())),
    };
    for _ in 0..200 {
        value = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let deep = vec![KeyValue {
        key: "deep".into(),
        value: Some(value),
    }];
    let limits = Limits {
        max_items: 1,
        max_item_bytes: 1 << 20,
    };
    let (encoded, _) = encode(&request(vec![span(1, None, deep)]), &limits, &ENV).expect("encoded");
    let rows = decode(StreamKind::Spans, &encoded.records);
    let text = rows[0].str("attributes");
    assert!(text.contains("null") && !text.contains("leaf"), "{text}");
    rows[0].json("attributes");
}

#[test]
fn links_take_the_first_key_of_their_list_and_the_span_before_the_resource() {
    let attributes = vec![
        text("raindrop.eventId", "from-bare-key"),
        text("ai.telemetry.metadata.raindrop.eventId", "from-ai-sdk"),
        kv(
            "traceloop.association.properties.convo_id",
            Value::IntValue(3),
        ),
        text("traceloop.association.properties.event", "python-name"),
    ];
    let (encoded, _) =
        encode(&request(vec![span(1, None, attributes)]), &limits(), &ENV).expect("encoded");
    let row = &decode(StreamKind::Spans, &encoded.records)[0];
    assert_eq!(
        row.str("event_id"),
        "from-ai-sdk",
        "earlier in LINKS wins, whatever the order"
    );
    assert_eq!(row.str("convo_id"), "", "only string values link");
    assert_eq!(row.str("event_name"), "python-name");
    assert_eq!(row.str("user_id"), "u-from-resource");
}

#[test]
fn payload_attributes_are_stored_apart_and_every_row_carries_its_expiries() {
    let attributes = vec![
        text("gen_ai.request.model", "gpt-4o"),
        kv("gen_ai.usage.input_tokens", Value::IntValue(12)),
        text("gen_ai.prompt.0.content", "my card is 4242"),
        text("ai.response.text", "noted"),
        text("raindrop.eventId", "ev-9"),
    ];
    let env = Envelope {
        retention: crate::registry::projects::Retention {
            body_hours: 1,
            log_days: 2,
        },
        ..ENV
    };
    let (encoded, _) =
        encode(&request(vec![span(1, None, attributes)]), &limits(), &env).expect("encoded");
    let rows = decode(StreamKind::Spans, &encoded.records);
    let row = &rows[0];
    assert_eq!(
        row.json("attributes"),
        json!({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12, "raindrop.eventId": "ev-9"})
    );
    assert_eq!(
        row.json("body_attributes"),
        json!({"gen_ai.prompt.0.content": "my card is 4242", "ai.response.text": "noted"})
    );
    assert_eq!(row.datetime("body_expires_at"), 1_700_000_000 + 3600);
    assert_eq!(row.datetime("expires_at"), 1_700_000_000 + 2 * 86_400);
}

#[test]
fn payloads_past_the_64th_attribute_are_found_too() {
    let mut attributes: Vec<KeyValue> = (0..70).map(|i| text(&format!("k{i}"), "v")).collect();
    attributes[3] = text("ai.prompt", "early");
    attributes[66] = text("gen_ai.completion", "late");
    let (encoded, _) =
        encode(&request(vec![span(1, None, attributes)]), &limits(), &ENV).expect("encoded");
    let rows = decode(StreamKind::Spans, &encoded.records);
    assert_eq!(
        rows[0].json("body_attributes"),
        json!({"ai.prompt": "early", "gen_ai.completion": "late"})
    );
    let meta = rows[0].json("attributes");
    assert_eq!(meta.as_object().map(|m| m.len()), Some(68));
    assert!(meta.get("ai.prompt").is_none() && meta.get("gen_ai.completion").is_none());
}
