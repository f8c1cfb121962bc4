//! `POST /v1/traces` on the real broker and ClickHouse: OTLP/HTTP protobuf
//! and JSON, gzip, the answer in the request's encoding, spans joined to
//! their events by `event_id`, once after a replay; and the edge cases a
//! receiver meets: a gzip bomb, a wrong content type, bad ids, an empty
//! export, 10k spans in one request.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::json;

use crate::common::Harness;

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn span(trace: &str, id: u64, parent: Option<u64>, event_id: &str) -> Span {
    Span {
        trace_id: hex(trace),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
        name: format!("ai.generateText {id}"),
        kind: 3,
        start_time_unix_nano: 1_764_000_000_000_000_000 + id,
        end_time_unix_nano: 1_764_000_001_000_000_000 + id,
        attributes: vec![
            text("ai.telemetry.metadata.raindrop.eventId", event_id),
            text("gen_ai.request.model", "gpt-test"),
        ],
        ..Span::default()
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "it")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

struct Sent {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(h: &Harness, key: &str, content_type: &str, gzipped: bool, body: Vec<u8>) -> Sent {
    let mut request = h
        .http
        .post(format!("{}/v1/traces", h.base))
        .header("authorization", format!("Bearer {key}"))
        .header("x-raindrop-project-id", "agent")
        .header("content-type", content_type);
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let r = request.body(body).send().await.expect("sent");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Sent {
        status,
        content_type,
        body: r.bytes().await.expect("body").to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_json_spans_land_joined_to_their_event_once_after_a_replay() {
    let h = Harness::start("otlp").await;
    let key = h.write_key("acme").await;
    let event = r#"[{"event_id":"ev-otlp","user_id":"u","event":"chat","ai_data":{"input":"q","output":"a"}}]"#;
    let r = h
        .post("/v1/events/track", Some(&key), Some("agent"), event)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Protobuf, gzipped: a parent and its child.
    let body = export(vec![
        span(TRACE, 1, None, "ev-otlp"),
        span(TRACE, 2, Some(1), "ev-otlp"),
    ]);
    let sent = send(
        &h,
        &key,
        "application/x-protobuf",
        true,
        gzip(&body.encode_to_vec()),
    )
    .await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.content_type, "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(&sent.body[..]).expect("an OTLP answer");
    assert!(answer.partial_success.is_none(), "{answer:?}");

    // JSON as the Python SDK builds its tool spans: base64 ids, string times.
    let json_body = json!({"resourceSpans": [{"resource": {"attributes": []},
        "scopeSpans": [{"scope": {"name": "raindrop"}, "spans": [{
            "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "AAAAAAAAAAM=", "parentSpanId": "AAAAAAAAAAE=",
            "name": "tool", "kind": 1, "startTimeUnixNano": "1764000000000000003",
            "endTimeUnixNano": "1764000000500000003",
            "attributes": [{"key": "traceloop.association.properties.event_id", "value": {"stringValue": "ev-otlp"}},
                           {"key": "tool.calls", "value": {"intValue": "2"}}],
            "status": {"code": 1}}]}]}]});
    let sent = send(
        &h,
        &key,
        "application/json",
        false,
        json_body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    assert!(sent.content_type.starts_with("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&sent.body).expect("json"),
        json!({})
    );

    let joined = "SELECT count() FROM spans_view INNER JOIN events_view USING (org, project, event_id) \
                  WHERE org = ? AND project = 'agent' AND event_id = 'ev-otlp'";
    assert_eq!(h.wait_count(joined, "acme", 3).await, 3);
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Got {
        span_id: String,
        parent_span_id: String,
        kind: String,
        status_code: String,
        duration_ns: u64,
        tool_calls: String,
    }
    let got: Vec<Got> = h
        .rows(
            "SELECT span_id, parent_span_id, kind, status_code, duration_ns, \
             visitParamExtractRaw(attributes, 'tool.calls') FROM spans_view \
             WHERE org = ? AND trace_id = '5b8efff798038103d269b633813fc60c' ORDER BY span_id",
            "acme",
        )
        .await;
    let ids: Vec<(&str, &str)> = got
        .iter()
        .map(|g| (g.span_id.as_str(), g.parent_span_id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("0000000000000001", ""),
            ("0000000000000002", "0000000000000001"),
            ("0000000000000003", "0000000000000001"),
        ],
        "the base64 ids are the same trace"
    );
    assert_eq!(
        (got[0].kind.as_str(), got[2].kind.as_str()),
        ("client", "internal")
    );
    assert_eq!(got[2].status_code, "ok");
    assert_eq!(got[2].duration_ns, 500_000_000);
    assert_eq!(got[2].tool_calls, "2");

    // A second consumer group replays the spans topic: stored twice, read once.
    let replayer = h.replayer().await;
    assert_eq!(
        h.wait_count("SELECT count() FROM spans WHERE org = ?", "acme", 6)
            .await,
        6,
        "stored twice"
    );
    assert_eq!(h.wait_count(joined, "acme", 3).await, 3, "read once");
    if let Some(running) = { replayer }.running.take() {
        running.stop().await;
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_receiver_meets_bombs_bad_types_bad_ids_empty_and_10k_spans() {
    let h = Harness::start("otlp_edges").await;
    let key = h.write_key("acme").await;

    // A gzip bomb: 64 MiB of zeros in about 64 KiB; the limit (20 MiB) holds
    // for the inflated bytes.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    let sent = send(&h, &key, "application/x-protobuf", true, bomb).await;
    assert_eq!(sent.status, 413);

    // Not OTLP's content types: 415, naming the header.
    let sent = send(&h, &key, "text/plain", false, b"{}".to_vec()).await;
    assert_eq!(sent.status, 415);
    let error: serde_json::Value = serde_json::from_slice(&sent.body).expect("json error");
    assert_eq!(error["error"]["param"], "Content-Type");

    // Malformed bodies: 400.
    for (content_type, body) in [
        ("application/x-protobuf", b"\xff\xff\xff\xff".to_vec()),
        ("application/json", b"{\"resourceSpans\": 7}".to_vec()),
    ] {
        let sent = send(&h, &key, content_type, false, body).await;
        assert_eq!(sent.status, 400, "{content_type}");
    }

    // Bad ids: those spans are left out and counted, the others stored.
    let mut zero = span(TRACE, 11, None, "e");
    zero.trace_id = vec![0; 16];
    let mut short = span(TRACE, 12, None, "e");
    short.span_id = vec![1, 2];
    let body = export(vec![span(TRACE, 10, None, "e"), zero, short]);
    let sent = send(
        &h,
        &key,
        "application/x-protobuf",
        false,
        body.encode_to_vec(),
    )
    .await;
    assert_eq!(sent.status, 200);
    let partial = ExportTraceServiceResponse::decode(&sent.body[..])
        .expect("answer")
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("spans[1].traceId"),
        "{}",
        partial.error_message
    );
    let json_bad = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "not-an-id", "spanId": "eee19b7ec3c1b174", "name": "x"}]}]}]});
    let sent = send(
        &h,
        &key,
        "application/json",
        false,
        json_bad.to_string().into_bytes(),
    )
    .await;
    assert_eq!(sent.status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&sent.body).expect("json");
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1", "{answer}");

    // An empty export: 200, nothing stored.
    for (content_type, body) in [
        ("application/x-protobuf", Vec::new()),
        ("application/json", b"{}".to_vec()),
    ] {
        let sent = send(&h, &key, content_type, false, body).await;
        assert_eq!(sent.status, 200, "{content_type}");
    }

    // 10k spans in one request.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let many: Vec<Span> = (1..=10_000)
        .map(|i| span(trace, i, Some(1), "bulk"))
        .collect();
    let sent = send(
        &h,
        &key,
        "application/x-protobuf",
        true,
        gzip(&export(many).encode_to_vec()),
    )
    .await;
    assert_eq!(sent.status, 200);
    let sql = "SELECT count() FROM spans_view WHERE org = ? AND trace_id = '0af7651916cd43dd8448eb211c80319c'";
    assert_eq!(h.wait_count(sql, "acme", 10_000).await, 10_000);
    let sql = "SELECT count() FROM spans_view WHERE org = ? AND trace_id = '5b8efff798038103d269b633813fc60c'";
    assert_eq!(
        h.wait_count(sql, "acme", 1).await,
        1,
        "only the good span of the bad-id export"
    );

    // No key: 401, as on every ingest route.
    let r = h
        .http
        .post(format!("{}/v1/traces", h.base))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);
    h.stop().await;
}

/// ClickHouse 18.16 has no `Map` and no TTL: the span attribute maps'
/// migration (0006, `-- requires ClickHouse 22.1`) and the TTL one (0011)
/// stay pending there, run after run, and everything else is applied; on a
/// newer server they are applied like the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attribute_maps_wait_for_a_server_that_has_map() {
    use downpour::sink::schema;
    let cfg = crate::common::private_config("maps");
    let server = downpour::sink::clickhouse::server(&cfg.clickhouse).unwrap();
    let version: String = server
        .query("SELECT version()")
        .fetch_one()
        .await
        .expect("version");
    let has_map = schema::server_version(&version).expect("major.minor") >= (22, 1);
    let applied = schema::migrate(&server, &cfg.clickhouse.database)
        .await
        .expect("migrate");
    assert_eq!(
        applied.contains(&"0006_span_attribute_maps".to_string()),
        has_map,
        "ClickHouse {version}: {applied:?}"
    );
    // The TTL migrations (0011, 0014) wait for such a server too.
    let gated = ["0011_retention_ttl", "0014_coarse_partitions_ttl"];
    for ttl in gated {
        assert_eq!(
            applied.contains(&ttl.to_string()),
            has_map,
            "ClickHouse {version}: {applied:?}"
        );
    }
    assert_eq!(
        applied.len(),
        schema::MIGRATIONS.len() - (1 + gated.len()) * usize::from(!has_map)
    );
    let again = schema::migrate(&server, &cfg.clickhouse.database)
        .await
        .expect("migrate again");
    assert!(again.is_empty(), "nothing new on a second run: {again:?}");
    let maps: u64 = server
        .query(
            "SELECT count() FROM system.columns WHERE database = ? AND table = 'spans' \
             AND name IN ('attributes_map', 'resource_attributes_map')",
        )
        .bind(&cfg.clickhouse.database)
        .fetch_one()
        .await
        .expect("columns");
    assert_eq!(maps, if has_map { 2 } else { 0 }, "ClickHouse {version}");
    server
        .query(&format!("DROP DATABASE {}", cfg.clickhouse.database))
        .execute()
        .await
        .expect("drop");
}
