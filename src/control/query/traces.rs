//! `GET /v1/traces?event_id=` (`@raindrop-ai/query` 0.1.13,
//! `traces-list.ts`): the spans of one event: every span of the traces
//! that hold a span linked to it (the edge keeps the link the clients
//! write, e.g. `traceloop.association.properties.event_id`, in
//! `spans.event_id`; `src/edge/otlp/span.rs`), oldest first, at most
//! `limit` (default 200). `{data: [span]}`, no paging (the SDK has none).
//!
//! A span: ids in hex, `parent_span_id` (null for a root), `span_name`,
//! `span_type` (`LLM_GENERATION` when it names a model, `TOOL_CALL` when
//! it names a tool, else `INTERNAL`), `status` (`UNSET`, `OK`, `ERROR`),
//! times in nanoseconds, `input` / `output`, token counts, `model`,
//! `provider` (each the first of [`Reads`]'s keys the span has, null
//! otherwise), and `attributes` (strings and numbers as they are,
//! anything else as its JSON). `trunc_len=N` cuts `input` and `output` to
//! N characters.
//!
//! Invariants: `spans FINAL`, scoped in the table read (a span delivered
//! twice shows once); every value bound.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use utoipa::ToSchema;

use super::Scope;
use super::conditions::scoped;
use super::filter::{Filters, Shape};
use super::params::{self, MAX_ID_BYTES, optional};
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// Spans when `limit` is not given (the SDK's default).
pub const DEFAULT_LIMIT: u32 = 200;

/// The attribute keys each field is read from, first found wins: the
/// OpenTelemetry GenAI conventions, the Vercel AI SDK's `ai.*` (the AI SDK
/// integration) and Traceloop's (the Python SDK).
struct Reads {
    model: &'static [&'static str],
    provider: &'static [&'static str],
    tool: &'static [&'static str],
    input: &'static [&'static str],
    output: &'static [&'static str],
    input_tokens: &'static [&'static str],
    output_tokens: &'static [&'static str],
}

const READS: Reads = Reads {
    model: &[
        "gen_ai.response.model",
        "gen_ai.request.model",
        "ai.response.model",
        "ai.model.id",
        "llm.request.model",
    ],
    provider: &["gen_ai.system", "gen_ai.provider.name", "ai.model.provider"],
    tool: &["gen_ai.tool.name", "ai.toolCall.name"],
    input: &[
        "gen_ai.prompt",
        "ai.prompt",
        "ai.prompt.messages",
        "gen_ai.prompt.0.content",
        "traceloop.entity.input",
        "ai.toolCall.args",
        "gen_ai.tool.call.arguments",
    ],
    output: &[
        "gen_ai.completion",
        "ai.response.text",
        "gen_ai.completion.0.content",
        "traceloop.entity.output",
        "ai.toolCall.result",
        "gen_ai.tool.call.result",
    ],
    input_tokens: &[
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "ai.usage.promptTokens",
        "ai.usage.inputTokens",
    ],
    output_tokens: &[
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "ai.usage.completionTokens",
        "ai.usage.outputTokens",
    ],
};

/// `GET /v1/traces`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Spans {
    /// Oldest first.
    pub data: Vec<Span>,
}

/// A span (`TracesListData`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Span {
    /// Hex.
    pub trace_id: String,
    /// Hex.
    pub span_id: String,
    /// Hex; null for a root span.
    pub parent_span_id: Option<String>,
    /// The span's name.
    pub span_name: String,
    /// What the span did.
    pub span_type: SpanType,
    /// Its OTLP status.
    pub status: SpanStatus,
    /// Start, Unix nanoseconds.
    pub start_time_ns: u64,
    /// End, Unix nanoseconds.
    pub end_time_ns: u64,
    /// End minus start.
    pub duration_ns: u64,
    /// The prompt or tool arguments, cut to `trunc_len` characters.
    pub input: Option<String>,
    /// The completion or tool result, cut to `trunc_len` characters.
    pub output: Option<String>,
    /// Prompt tokens.
    #[schema(value_type = Option<f64>)]
    pub input_tokens: Option<Number>,
    /// Completion tokens.
    #[schema(value_type = Option<f64>)]
    pub output_tokens: Option<Number>,
    /// The model named by the span.
    pub model: Option<String>,
    /// The model's provider.
    pub provider: Option<String>,
    /// The span's attributes.
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// What a span did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpanType {
    /// Anything else.
    Internal,
    /// A model call: the span names a model.
    LlmGeneration,
    /// A tool call: the span names a tool.
    ToolCall,
}

/// A span's OTLP status code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SpanStatus {
    /// Not set.
    Unset,
    /// Ok.
    Ok,
    /// Error.
    Error,
}

/// An attribute's value: strings and numbers as they are, anything else
/// as its JSON text.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A string (or another value's JSON).
    Text(String),
    /// A number.
    #[schema(value_type = f64)]
    Number(Number),
}

/// The parameters of `GET /v1/traces`.
pub fn params() -> Vec<(&'static str, Shape)> {
    vec![
        ("event_id", Shape::Plain),
        ("limit", Shape::Plain),
        ("trunc_len", Shape::Plain),
    ]
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SpanRow {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    status_code: String,
    start_time_ns: u64,
    end_time_ns: u64,
    duration_ns: u64,
    attributes: String,
    /// The payload attributes, stored apart so they can expire
    /// (docs/CONTRACT.md §C24); `{}` once they have.
    body_attributes: String,
}

/// The spans of `event_id`'s traces.
pub async fn list(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Spans, ApiError> {
    let event_id = f
        .plain("event_id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("event_id", "is required"))?;
    let limit = params::limit(f.plain("limit"), DEFAULT_LIMIT)?;
    let trunc = f
        .plain("trunc_len")
        .filter(|t| !t.is_empty() && *t != "null")
        .map(|t| {
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_request("trunc_len", "must be a whole number"))
        })
        .transpose()?;
    if event_id.len() > MAX_ID_BYTES {
        return Ok(Spans { data: Vec::new() });
    }
    let mut args = scoped(scope, []);
    args.extend(scoped(scope, [Arg::Text(event_id.to_string())]));
    let sql = "SELECT trace_id, span_id, parent_span_id, name, status_code, start_time_ns, \
               end_time_ns, duration_ns, attributes, body_attributes FROM spans FINAL WHERE org = ? AND project = ? \
               AND trace_id IN (SELECT trace_id FROM spans WHERE org = ? AND project = ? AND event_id = ?)";
    let rows: Vec<SpanRow> = Select::over(
        "trace_id, span_id, parent_span_id, name, status_code, start_time_ns, end_time_ns, \
         duration_ns, attributes, body_attributes",
        sql,
        args,
    )
    .tail(
        " ORDER BY start_time_ns ASC, span_id ASC LIMIT ?",
        [Arg::Number(u64::from(limit))],
    )
    .fetch(db)
    .await?;
    Ok(Spans {
        data: rows.into_iter().map(|r| span_json(r, trunc)).collect(),
    })
}

fn span_json(r: SpanRow, trunc: Option<usize>) -> Span {
    let object = |json: &str| match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    // One attribute list, as the span was sent (until its payloads expire).
    let mut attributes = object(&r.attributes);
    attributes.extend(object(&r.body_attributes));
    let text = |keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| attributes.get(*k).filter(|v| !v.is_null()))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let number = |keys: &[&str]| -> Option<Number> {
        keys.iter().find_map(|k| match attributes.get(*k) {
            Some(Value::Number(n)) => Some(n.clone()),
            Some(Value::String(s)) => s
                .parse::<u64>()
                .map(Number::from)
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(Number::from_f64)),
            _ => None,
        })
    };
    let cut = |s: Option<String>| match trunc {
        Some(n) => s.map(|s| s.chars().take(n).collect()),
        None => s,
    };
    let model = text(READS.model);
    let is_tool = READS.tool.iter().any(|k| attributes.contains_key(*k))
        || attributes
            .get("traceloop.span.kind")
            .and_then(Value::as_str)
            == Some("tool");
    let span_type = if model.is_some() {
        SpanType::LlmGeneration
    } else if is_tool {
        SpanType::ToolCall
    } else {
        SpanType::Internal
    };
    let status = match r.status_code.as_str() {
        "ok" => SpanStatus::Ok,
        "error" => SpanStatus::Error,
        _ => SpanStatus::Unset,
    };
    let input = cut(text(READS.input));
    let output = cut(text(READS.output));
    let input_tokens = number(READS.input_tokens);
    let output_tokens = number(READS.output_tokens);
    let provider = text(READS.provider);
    let attributes = attributes
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => AttributeValue::Text(s),
                Value::Number(n) => AttributeValue::Number(n),
                other => AttributeValue::Text(other.to_string()),
            };
            (k, v)
        })
        .collect();
    Span {
        trace_id: r.trace_id,
        span_id: r.span_id,
        parent_span_id: optional(r.parent_span_id),
        span_name: r.name,
        span_type,
        status,
        start_time_ns: r.start_time_ns,
        end_time_ns: r.end_time_ns,
        duration_ns: r.duration_ns,
        input,
        output,
        input_tokens,
        output_tokens,
        model,
        provider,
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_json(s: Span) -> Value {
        serde_json::to_value(s).expect("serializes")
    }

    /// A stored span: its attributes split as the edge splits them.
    fn span(attributes: Value) -> SpanRow {
        let (body, meta): (Map<String, Value>, Map<String, Value>) = attributes
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .partition(|(k, _)| crate::edge::otlp::span::is_body(k));
        SpanRow {
            trace_id: "ab".into(),
            span_id: "cd".into(),
            parent_span_id: String::new(),
            name: "chat".into(),
            status_code: "error".into(),
            start_time_ns: 1,
            end_time_ns: 3,
            duration_ns: 2,
            attributes: Value::Object(meta).to_string(),
            body_attributes: Value::Object(body).to_string(),
        }
    }

    #[test]
    fn a_generation_reads_model_tokens_and_text() {
        let v = to_json(span_json(
            span(
                json!({"gen_ai.request.model": "gpt", "gen_ai.system": "openai",
                "gen_ai.prompt": "hello there", "gen_ai.usage.input_tokens": 12,
                "ai.usage.completionTokens": "7", "ok": true, "list": [1]}),
            ),
            Some(5),
        ));
        assert_eq!(v["span_type"], "LLM_GENERATION");
        assert_eq!(v["model"], "gpt");
        assert_eq!(v["provider"], "openai");
        assert_eq!(v["input"], "hello");
        assert_eq!(v["output"], Value::Null);
        assert_eq!(v["input_tokens"], 12);
        assert_eq!(v["output_tokens"], 7);
        assert_eq!(v["status"], "ERROR");
        assert_eq!(v["parent_span_id"], Value::Null);
        assert_eq!(v["attributes"]["ok"], "true");
        assert_eq!(v["attributes"]["list"], "[1]");
        assert_eq!(v["attributes"]["gen_ai.usage.input_tokens"], 12);
    }

    #[test]
    fn tools_and_plain_spans_are_told_apart() {
        let tool = to_json(span_json(
            span(json!({"ai.toolCall.name": "search", "ai.toolCall.args": "{}"})),
            None,
        ));
        assert_eq!(tool["span_type"], "TOOL_CALL");
        assert_eq!(tool["input"], "{}");
        let plain = to_json(span_json(span(json!({})), None));
        assert_eq!(plain["span_type"], "INTERNAL");
        assert_eq!(plain["model"], Value::Null);
        let kind = to_json(span_json(
            span(json!({"traceloop.span.kind": "tool"})),
            None,
        ));
        assert_eq!(kind["span_type"], "TOOL_CALL");
    }
}
