//! OTLP/JSON (`application/json`) into the protobuf messages, so both
//! encodings share one conversion to rows (`span.rs`).
//!
//! Read as the OTLP specification writes it (lowerCamelCase keys, ids in
//! hex, 64-bit integers as strings, enums as numbers) and as real clients
//! send it: snake_case keys, ids in base64 (the Python SDK's hand-built tool
//! spans), integers as numbers, enums by name. Unknown keys are ignored, as
//! the specification requires of receivers.
//!
//! Invariant: a value of the wrong type is an error naming it (400); an id
//! that is neither hex nor base64 of the right length is kept as an
//! impossible id (one byte), so `span.rs` rejects that span alone.

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Parses an OTLP/JSON export request.
pub fn parse(body: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let request: Request = serde_json::from_slice(body)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: request.resource_spans.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_spans")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ResourceSpans {
    resource: Option<Resource>,
    #[serde(alias = "scope_spans", alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(alias = "schema_url")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Resource {
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ScopeSpans {
    #[serde(alias = "instrumentationLibrary")]
    scope: Option<Scope>,
    spans: Vec<Span>,
    #[serde(alias = "schema_url")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Scope {
    name: String,
    version: String,
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Span {
    #[serde(alias = "trace_id", deserialize_with = "id")]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", deserialize_with = "id")]
    span_id: Vec<u8>,
    #[serde(alias = "parent_span_id", deserialize_with = "id")]
    parent_span_id: Vec<u8>,
    #[serde(alias = "trace_state", deserialize_with = "string_or_null")]
    trace_state: String,
    #[serde(deserialize_with = "string_or_null")]
    name: String,
    #[serde(deserialize_with = "span_kind")]
    kind: i32,
    #[serde(alias = "start_time_unix_nano", deserialize_with = "uint64")]
    start_time_unix_nano: u64,
    #[serde(alias = "end_time_unix_nano", deserialize_with = "uint64")]
    end_time_unix_nano: u64,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    links: Vec<Link>,
    status: Option<Status>,
    #[serde(deserialize_with = "uint32")]
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Event {
    #[serde(alias = "time_unix_nano", deserialize_with = "uint64")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "string_or_null")]
    name: String,
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Link {
    #[serde(alias = "trace_id", deserialize_with = "id")]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", deserialize_with = "id")]
    span_id: Vec<u8>,
    #[serde(alias = "trace_state", deserialize_with = "string_or_null")]
    trace_state: String,
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    #[serde(deserialize_with = "status_code")]
    code: i32,
    #[serde(deserialize_with = "string_or_null")]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue {
    key: String,
    value: Option<AnyValue>,
}

/// One of the fields is set; none is an empty value (`{}`).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value", deserialize_with = "some_int64")]
    int_value: Option<i64>,
    #[serde(alias = "double_value", deserialize_with = "some_double")]
    double_value: Option<f64>,
    #[serde(alias = "array_value")]
    array_value: Option<Values<AnyValue>>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<Values<KeyValue>>,
    #[serde(alias = "bytes_value", deserialize_with = "some_bytes")]
    bytes_value: Option<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
struct Values<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

fn some_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int64(d).map(Some)
}

fn some_double<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    double(d).map(Some)
}

fn some_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    bytes(d).map(Some)
}

impl From<ResourceSpans> for trace::ResourceSpans {
    fn from(r: ResourceSpans) -> Self {
        trace::ResourceSpans {
            resource: r.resource.map(|res| PbResource {
                attributes: key_values(res.attributes),
                ..PbResource::default()
            }),
            scope_spans: r.scope_spans.into_iter().map(Into::into).collect(),
            schema_url: r.schema_url,
        }
    }
}

impl From<ScopeSpans> for trace::ScopeSpans {
    fn from(s: ScopeSpans) -> Self {
        trace::ScopeSpans {
            scope: s.scope.map(|scope| common::InstrumentationScope {
                name: scope.name,
                version: scope.version,
                attributes: key_values(scope.attributes),
                dropped_attributes_count: 0,
            }),
            spans: s.spans.into_iter().map(Into::into).collect(),
            schema_url: s.schema_url,
        }
    }
}

impl From<Span> for trace::Span {
    fn from(s: Span) -> Self {
        trace::Span {
            trace_id: s.trace_id,
            span_id: s.span_id,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id,
            flags: s.flags,
            name: s.name,
            kind: s.kind,
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            attributes: key_values(s.attributes),
            events: s
                .events
                .into_iter()
                .map(|e| trace::span::Event {
                    time_unix_nano: e.time_unix_nano,
                    name: e.name,
                    attributes: key_values(e.attributes),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: s
                .links
                .into_iter()
                .map(|l| trace::span::Link {
                    trace_id: l.trace_id,
                    span_id: l.span_id,
                    trace_state: l.trace_state,
                    attributes: key_values(l.attributes),
                    ..trace::span::Link::default()
                })
                .collect(),
            status: s.status.map(|st| trace::Status {
                code: st.code,
                message: st.message,
            }),
            ..trace::Span::default()
        }
    }
}

fn key_values(kvs: Vec<KeyValue>) -> Vec<common::KeyValue> {
    kvs.into_iter()
        .map(|kv| common::KeyValue {
            key: kv.key,
            value: kv.value.and_then(any_value),
        })
        .collect()
}

fn any_value(v: AnyValue) -> Option<common::AnyValue> {
    use common::any_value::Value;
    let value = if let Some(s) = v.string_value {
        Value::StringValue(s)
    } else if let Some(b) = v.bool_value {
        Value::BoolValue(b)
    } else if let Some(i) = v.int_value {
        Value::IntValue(i)
    } else if let Some(d) = v.double_value {
        Value::DoubleValue(d)
    } else if let Some(a) = v.array_value {
        Value::ArrayValue(common::ArrayValue {
            values: a.values.into_iter().filter_map(any_value).collect(),
        })
    } else if let Some(kv) = v.kvlist_value {
        Value::KvlistValue(common::KeyValueList {
            values: key_values(kv.values),
        })
    } else if let Some(b) = v.bytes_value {
        Value::BytesValue(b)
    } else {
        return None;
    };
    Some(common::AnyValue { value: Some(value) })
}

/// A number or a string of one (proto3 JSON writes 64-bit integers as strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(0),
        Some(NumberOrString::Unsigned(n)) => Ok(n),
        Some(NumberOrString::Text(s)) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("{s:?} is not an unsigned 64-bit integer"))),
        Some(_) => Err(de::Error::custom("must be an unsigned 64-bit integer")),
    }
}

fn uint32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = uint64(d)?;
    u32::try_from(n).map_err(|_| de::Error::custom(format!("{n} is not a 32-bit integer")))
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Signed(n) => Ok(n),
        NumberOrString::Unsigned(n) => {
            i64::try_from(n).map_err(|_| de::Error::custom(format!("{n} is not a 64-bit integer")))
        }
        NumberOrString::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("{s:?} is not a 64-bit integer"))),
        NumberOrString::Float(_) => Err(de::Error::custom("intValue must be an integer")),
    }
}

fn double<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Float(f) => Ok(f),
        NumberOrString::Signed(n) => Ok(n as f64),
        NumberOrString::Unsigned(n) => Ok(n as f64),
        // proto3 JSON spells the special values as strings.
        NumberOrString::Text(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse()
                .map_err(|_| de::Error::custom(format!("{other:?} is not a number"))),
        },
    }
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An enum as its number or its name (`SPAN_KIND_CLIENT`, or `CLIENT`).
fn enum_value<'de, D: Deserializer<'de>>(
    d: D,
    by_name: impl Fn(&str) -> Option<i32>,
    prefix: &str,
) -> Result<i32, D::Error> {
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(0),
        Some(NumberOrString::Unsigned(n)) => Ok(i32::try_from(n).unwrap_or(0)),
        Some(NumberOrString::Signed(n)) => Ok(i32::try_from(n).unwrap_or(0)),
        Some(NumberOrString::Text(s)) => {
            let upper = s.to_ascii_uppercase();
            Ok(by_name(&upper)
                .or_else(|| by_name(&format!("{prefix}{upper}")))
                .unwrap_or(0))
        }
        Some(NumberOrString::Float(_)) => Err(de::Error::custom("must be an enum number or name")),
    }
}

fn span_kind<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    enum_value(
        d,
        |name| trace::span::SpanKind::from_str_name(name).map(|k| k as i32),
        "SPAN_KIND_",
    )
}

fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    enum_value(
        d,
        |name| trace::status::StatusCode::from_str_name(name).map(|k| k as i32),
        "STATUS_CODE_",
    )
}

fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| de::Error::custom(format!("bytesValue is not base64 ({e})")))
}

/// A trace or span id in hex (the specification) or base64 (what protobuf's
/// JSON mapping does with bytes); empty when absent.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    Ok(decode_id(s.trim()))
}

/// `text` as id bytes: hex when it is 32 or 16 hex digits, otherwise
/// base64 (padded or not, standard or URL-safe); one zero byte, an id no
/// span can have, when it is neither.
pub fn decode_id(text: &str) -> Vec<u8> {
    const IMPOSSIBLE: [u8; 1] = [0];
    if text.is_empty() {
        return Vec::new();
    }
    if matches!(text.len(), 32 | 16) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0))
            .collect();
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(text)
            && matches!(bytes.len(), 16 | 8)
        {
            return bytes;
        }
    }
    IMPOSSIBLE.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_hex_and_base64() {
        let hex = "5b8efff798038103d269b633813fc60c";
        let bytes = decode_id(hex);
        assert_eq!(bytes.len(), 16);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(decode_id(&b64), bytes);
        assert_eq!(decode_id(b64.trim_end_matches('=')), bytes);
        let span = decode_id("eee19b7ec3c1b174");
        assert_eq!(span.len(), 8);
        assert_eq!(
            decode_id(&base64::engine::general_purpose::STANDARD.encode(&span)),
            span
        );
        for bad in ["xyz", "5b8e", "zz8efff798038103d269b633813fc60c"] {
            assert_eq!(decode_id(bad).len(), 1, "{bad}");
        }
        assert!(decode_id("").is_empty());
    }

    #[test]
    fn the_specification_s_example_and_what_clients_send() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
            "scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[
              {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"",
               "name":"chat","kind":3,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
               "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}},
                 {"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
                 {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}],
               "status":{"code":"STATUS_CODE_ERROR","message":"boom"}},
              {"trace_id":"W47/95gDgQPSabYzgT/GDA==","span_id":"7uGbfsPBsXQ=","kind":"SPAN_KIND_INTERNAL","name":"tool"}
            ]}]}]}"#;
        let req = parse(body).expect("parses");
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].trace_id, spans[1].trace_id);
        assert_eq!(spans[0].span_id, spans[1].span_id);
        assert_eq!((spans[0].kind, spans[1].kind), (3, 1));
        assert_eq!(spans[0].start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(spans[0].end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(spans[0].attributes.len(), 4);
        assert!(parse(b"{}").expect("empty").resource_spans.is_empty());
        for bad in [
            &b"[1]"[..],
            br#"{"resourceSpans":{"x":1}}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":1.5}}]}]}]}]}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
