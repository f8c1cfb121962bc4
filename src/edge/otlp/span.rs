//! OTLP spans into `spans` rows ([`SpanRow`]), one per span, packed into
//! Kafka records.
//!
//! Attributes become JSON objects written straight into the row (no
//! temporary tree): `{"gen_ai.request.model": "m", "n": 42}`; arrays and
//! key-value lists nest as JSON arrays and objects, bytes as base64. The
//! Raindrop links (`event_id`, `user_id`, `convo_id`, `event_name`) are read
//! from the attribute keys the clients write ([`LINKS`]).
//!
//! Invariant: a span that cannot be stored (an id of the wrong length or
//! all zeros, a row over `max_item_bytes`) is left out and counted, and its
//! path and reason are named in the answer's `partial_success`; the
//! request's other spans are stored.

use std::io::Write;

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span};

use crate::bus::record::Packer;
use crate::edge::validate::{Encoded, Envelope, RECORD_TARGET_BYTES, Redacted};
use crate::pipeline::row::{JsonText, json_string};
use crate::pipeline::rows::SpanRow;
use crate::pipeline::{Limits, StreamKind};
use crate::sink::rowbinary::RowWriter;

mod payload;
pub use payload::{BODY_KEYS, is_body};

/// The attribute keys each Raindrop link is read from, first match wins, as
/// the clients write them (read from their shipped code, issue 10):
/// traceloop's association properties (the Python SDK 0.0.75 writes the
/// event name as `event`, the TS SDK 0.1.7 as `event_name`), the AI SDK's
/// telemetry metadata as `@raindrop-ai/ai-sdk` 0.3.0 writes it (the user as
/// `raindrop.ai.userId`), the TS SDK's metadata as the AI SDK re-prefixes
/// it, and `eventMetadata()`'s bare keys.
pub const LINKS: Links = Links {
    event_id: &[
        "traceloop.association.properties.event_id",
        "ai.telemetry.metadata.raindrop.eventId",
        "ai.telemetry.metadata.traceloop.association.properties.event_id",
        "raindrop.eventId",
    ],
    user_id: &[
        "traceloop.association.properties.user_id",
        "ai.telemetry.metadata.raindrop.ai.userId",
        "ai.telemetry.metadata.raindrop.userId",
        "ai.telemetry.metadata.traceloop.association.properties.user_id",
        "raindrop.userId",
    ],
    convo_id: &[
        "traceloop.association.properties.convo_id",
        "ai.telemetry.metadata.raindrop.convoId",
        "ai.telemetry.metadata.traceloop.association.properties.convo_id",
        "raindrop.convoId",
    ],
    event_name: &[
        "traceloop.association.properties.event_name",
        "traceloop.association.properties.event",
        "ai.telemetry.metadata.raindrop.eventName",
        "ai.telemetry.metadata.traceloop.association.properties.event_name",
        "raindrop.eventName",
    ],
};

/// Attribute keys per Raindrop link.
pub struct Links {
    /// → `event_id`.
    pub event_id: &'static [&'static str],
    /// → `user_id`.
    pub user_id: &'static [&'static str],
    /// → `convo_id`.
    pub convo_id: &'static [&'static str],
    /// → `event_name`.
    pub event_name: &'static [&'static str],
}

/// Spans left out of an accepted export.
#[derive(Debug, Default)]
pub struct Rejected {
    /// How many.
    pub spans: usize,
    /// The first few, by path and reason.
    pub reasons: Vec<String>,
}

impl Rejected {
    const NAMED: usize = 5;

    fn add(&mut self, reason: String) {
        self.spans += 1;
        if self.reasons.len() < Self::NAMED {
            self.reasons.push(reason);
        }
    }

    /// One line for `partial_success.error_message`.
    pub fn message(&self) -> String {
        let mut message = self.reasons.join("; ");
        if self.spans > self.reasons.len() {
            message.push_str(&format!("; and {} more", self.spans - self.reasons.len()));
        }
        message
    }
}

/// Why a whole export is refused.
#[derive(Debug)]
pub struct TooManySpans(pub usize);

/// Encodes every storable span of `request`.
pub fn encode(
    request: &ExportTraceServiceRequest,
    limits: &Limits,
    env: &Envelope<'_>,
) -> Result<(Encoded, Rejected), TooManySpans> {
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if total > limits.max_items {
        return Err(TooManySpans(total));
    }
    let mut packer = Packer::new(StreamKind::Spans, RECORD_TARGET_BYTES, total * 1024);
    let mut rejected = Rejected::default();
    let mut stored = 0;
    let received_secs = env.received_secs();
    for (r, resource_spans) in request.resource_spans.iter().enumerate() {
        let resource: &[KeyValue] = resource_spans
            .resource
            .as_ref()
            .map_or(&[], |res| &res.attributes);
        for (s, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let (scope_name, scope_version) = scope_spans
                .scope
                .as_ref()
                .map_or(("", ""), |sc| (sc.name.as_str(), sc.version.as_str()));
            for (i, span) in scope_spans.spans.iter().enumerate() {
                let path = || format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                let ids = match SpanIds::of(span) {
                    Ok(ids) => ids,
                    Err(why) => {
                        rejected.add(format!("{}.{why}", path()));
                        continue;
                    }
                };
                let buf = packer.buf();
                let start = buf.len();
                let [event_id, user_id, convo_id, event_name] = links(&span.attributes, resource);
                let status = span.status.as_ref();
                let status_message = env.redact(status.map_or("", |s| s.message.as_str()));
                let redactor = env.redactor();
                let bodies = BodyBits::of(&span.attributes);
                SpanRow {
                    org: env.org,
                    project: env.project,
                    trace_id: ids.trace_id(),
                    span_id: ids.span_id(),
                    parent_span_id: ids.parent_span_id(),
                    trace_state: &span.trace_state,
                    name: &span.name,
                    kind: kind_name(span.kind),
                    start_time: u32::try_from(span.start_time_unix_nano / 1_000_000_000)
                        .unwrap_or(u32::MAX),
                    start_time_ns: span.start_time_unix_nano,
                    end_time_ns: span.end_time_unix_nano,
                    duration_ns: span
                        .end_time_unix_nano
                        .saturating_sub(span.start_time_unix_nano),
                    status_code: status_name(status.map_or(0, |s| s.code)),
                    status_message: &status_message,
                    attributes: &Redacted(
                        Attrs(&span.attributes, Part::Metadata(bodies)),
                        redactor,
                    ),
                    resource_attributes: &Redacted(Attrs(resource, Part::Whole), redactor),
                    scope_name,
                    scope_version,
                    events: &Redacted(Events(&span.events), redactor),
                    links: &Redacted(SpanLinks(&span.links), redactor),
                    event_id,
                    user_id,
                    convo_id,
                    event_name,
                    received_at: received_secs,
                    body_attributes: &Redacted(
                        Attrs(&span.attributes, Part::Body(bodies)),
                        redactor,
                    ),
                    body_expires_at: env.body_expires_at(),
                    expires_at: env.expires_at(),
                }
                .write(&mut RowWriter::new(buf));
                if buf.len() - start > limits.max_item_bytes {
                    buf.truncate(start);
                    rejected.add(format!(
                        "{}: larger than {} bytes",
                        path(),
                        limits.max_item_bytes
                    ));
                    continue;
                }
                packer.row_done();
                stored += 1;
            }
        }
    }
    let encoded = Encoded {
        records: packer.finish(),
        items: stored,
        ..Encoded::default()
    };
    Ok((encoded, rejected))
}

/// A span's ids in hex, checked.
struct SpanIds {
    hex: [u8; 64],
    parent: bool,
}

impl SpanIds {
    fn of(span: &Span) -> Result<SpanIds, &'static str> {
        let id = |bytes: &[u8], len: usize| bytes.len() == len && bytes.iter().any(|b| *b != 0);
        if !id(&span.trace_id, 16) {
            return Err("traceId: must be 16 bytes (32 hex digits or base64), not all zero");
        }
        if !id(&span.span_id, 8) {
            return Err("spanId: must be 8 bytes (16 hex digits or base64), not all zero");
        }
        let parent = match span.parent_span_id.len() {
            0 => false,
            _ if span.parent_span_id.iter().all(|b| *b == 0) => false,
            8 => true,
            _ => return Err("parentSpanId: must be empty or 8 bytes (16 hex digits or base64)"),
        };
        let mut hex = [b'0'; 64];
        write_hex(&mut hex[..32], &span.trace_id);
        write_hex(&mut hex[32..48], &span.span_id);
        if parent {
            write_hex(&mut hex[48..], &span.parent_span_id);
        }
        Ok(SpanIds { hex, parent })
    }

    fn text(&self, range: std::ops::Range<usize>) -> &str {
        // Only hex digits were written.
        std::str::from_utf8(&self.hex[range]).unwrap_or("")
    }

    fn trace_id(&self) -> &str {
        self.text(0..32)
    }

    fn span_id(&self) -> &str {
        self.text(32..48)
    }

    fn parent_span_id(&self) -> &str {
        if self.parent { self.text(48..64) } else { "" }
    }
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

fn kind_name(kind: i32) -> &'static str {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Internal) => "internal",
        Ok(span::SpanKind::Server) => "server",
        Ok(span::SpanKind::Client) => "client",
        Ok(span::SpanKind::Producer) => "producer",
        Ok(span::SpanKind::Consumer) => "consumer",
        _ => "unspecified",
    }
}

fn status_name(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

/// The Raindrop links of a span: `[event_id, user_id, convo_id,
/// event_name]`, each the string value of the first of its [`LINKS`] keys
/// the span's attributes have, else the resource's; empty when neither has
/// one. One pass over each attribute list: a key that cannot be a link
/// (most of them: `gen_ai.*`, `ai.prompt`, ...) costs a prefix compare, not
/// one compare per link key (that was a fifth of a span's encoding).
fn links<'a>(attributes: &'a [KeyValue], resource: &'a [KeyValue]) -> [&'a str; 4] {
    let lists = [
        LINKS.event_id,
        LINKS.user_id,
        LINKS.convo_id,
        LINKS.event_name,
    ];
    let mut best: [(usize, &str); 4] = [(usize::MAX, ""); 4];
    for attrs in [attributes, resource] {
        if best.iter().all(|(rank, _)| *rank != usize::MAX) {
            break;
        }
        let mut found: [(usize, &str); 4] = [(usize::MAX, ""); 4];
        for kv in attrs {
            let key = kv.key.as_str();
            if !(key.starts_with("traceloop.")
                || key.starts_with("ai.telemetry.")
                || key.starts_with("raindrop."))
            {
                continue;
            }
            let Some(any_value::Value::StringValue(value)) =
                kv.value.as_ref().and_then(|v| v.value.as_ref())
            else {
                continue;
            };
            for (slot, keys) in found.iter_mut().zip(lists) {
                if let Some(rank) = keys.iter().position(|k| *k == key)
                    && rank < slot.0
                {
                    *slot = (rank, value);
                }
            }
        }
        for (b, f) in best.iter_mut().zip(found) {
            if b.0 == usize::MAX {
                *b = f;
            }
        }
    }
    best.map(|(_, value)| value)
}

/// Which of a list's attributes a JSON object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// All of them.
    Whole,
    /// Those that are not payloads ([`is_body`]).
    Metadata(BodyBits),
    /// Only the payloads.
    Body(BodyBits),
}

/// Which of a span's attributes are payloads, asked once per attribute for
/// both of the span's objects: bit `i` for attribute `i` of the first 64
/// (a span with more asks [`is_body`] again for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BodyBits(u64);

impl BodyBits {
    fn of(list: &[KeyValue]) -> BodyBits {
        BodyBits(
            list.iter()
                .take(64)
                .enumerate()
                .filter(|(_, kv)| is_body(&kv.key))
                .fold(0, |bits, (i, _)| bits | 1 << i),
        )
    }

    #[inline]
    fn is_body(self, i: usize, kv: &KeyValue) -> bool {
        if i < 64 {
            self.0 >> i & 1 == 1
        } else {
            is_body(&kv.key)
        }
    }
}

/// Attributes as a JSON object.
struct Attrs<'a>(&'a [KeyValue], Part);

impl JsonText for Attrs<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let list = self.0.iter().enumerate();
        match self.1 {
            Part::Whole => write_object(out, self.0.iter(), 0),
            Part::Metadata(bits) => write_object(
                out,
                list.filter(|(i, kv)| !bits.is_body(*i, kv))
                    .map(|(_, kv)| kv),
                0,
            ),
            Part::Body(bits) => write_object(
                out,
                list.filter(|(i, kv)| bits.is_body(*i, kv))
                    .map(|(_, kv)| kv),
                0,
            ),
        }
    }
}

/// Span events as a JSON array.
struct Events<'a>(&'a [span::Event]);

impl JsonText for Events<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{{\"time_ns\":{},\"name\":", e.time_unix_nano);
            json_string(out, &e.name);
            out.extend_from_slice(b",\"attributes\":");
            write_object(out, e.attributes.iter(), 0);
            out.push(b'}');
        }
        out.push(b']');
    }
}

/// Span links as a JSON array.
struct SpanLinks<'a>(&'a [span::Link]);

impl JsonText for SpanLinks<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut hex = [b'0'; 48];
            write_hex(&mut hex[..32], &l.trace_id);
            write_hex(&mut hex[32..], &l.span_id);
            let text = std::str::from_utf8(&hex).unwrap_or("");
            out.extend_from_slice(b"{\"trace_id\":");
            json_string(out, &text[..l.trace_id.len().min(16) * 2]);
            out.extend_from_slice(b",\"span_id\":");
            json_string(out, &text[32..32 + l.span_id.len().min(8) * 2]);
            out.extend_from_slice(b",\"trace_state\":");
            json_string(out, &l.trace_state);
            out.extend_from_slice(b",\"attributes\":");
            write_object(out, l.attributes.iter(), 0);
            out.push(b'}');
        }
        out.push(b']');
    }
}

/// Values nested deeper than this are written as `null` (protobuf decoding
/// already bounds nesting; this keeps the writer's recursion bounded too).
const MAX_VALUE_DEPTH: usize = 32;

fn write_object<'k>(out: &mut Vec<u8>, kvs: impl Iterator<Item = &'k KeyValue>, depth: usize) {
    out.push(b'{');
    for (i, kv) in kvs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, &kv.key);
        out.push(b':');
        write_value(out, kv.value.as_ref(), depth + 1);
    }
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, value: Option<&AnyValue>, depth: usize) {
    use any_value::Value;
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        out.extend_from_slice(b"null");
        return;
    };
    if depth > MAX_VALUE_DEPTH {
        out.extend_from_slice(b"null");
        return;
    }
    match value {
        Value::StringValue(s) => json_string(out, s),
        Value::BoolValue(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Writing into a Vec cannot fail.
        Value::IntValue(n) => {
            let _ = write!(out, "{n}");
        }
        Value::DoubleValue(d) if d.is_finite() => {
            let _ = write!(out, "{d}");
        }
        Value::DoubleValue(_) => out.extend_from_slice(b"null"),
        Value::ArrayValue(a) => {
            out.push(b'[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, Some(v), depth + 1);
            }
            out.push(b']');
        }
        Value::KvlistValue(kv) => write_object(out, kv.values.iter(), depth + 1),
        Value::BytesValue(b) => {
            json_string(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
    }
}

#[cfg(test)]
mod tests;
