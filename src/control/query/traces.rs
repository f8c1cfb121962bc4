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

use serde::Deserialize;
use serde_json::{Map, Value, json};

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
    tool: &[
        "gen_ai.tool.name",
        "ai.toolCall.name",
        "traceloop.entity.name",
    ],
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
}

/// The spans of `event_id`'s traces.
pub async fn list(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Value, ApiError> {
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
        return Ok(json!({"data": []}));
    }
    let mut args = scoped(scope, []);
    args.extend(scoped(scope, [Arg::Text(event_id.to_string())]));
    let sql = "SELECT trace_id, span_id, parent_span_id, name, status_code, start_time_ns, \
               end_time_ns, duration_ns, attributes FROM spans FINAL WHERE org = ? AND project = ? \
               AND trace_id IN (SELECT trace_id FROM spans WHERE org = ? AND project = ? AND event_id = ?)";
    let rows: Vec<SpanRow> = Select::over(
        "trace_id, span_id, parent_span_id, name, status_code, start_time_ns, end_time_ns, \
         duration_ns, attributes",
        sql,
        args,
    )
    .tail(
        " ORDER BY start_time_ns ASC, span_id ASC LIMIT ?",
        [Arg::Number(u64::from(limit))],
    )
    .fetch(db)
    .await?;
    let data: Vec<Value> = rows.into_iter().map(|r| span_json(r, trunc)).collect();
    Ok(json!({ "data": data }))
}

fn span_json(r: SpanRow, trunc: Option<usize>) -> Value {
    let attributes = match serde_json::from_str::<Value>(&r.attributes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let text = |keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| attributes.get(*k).filter(|v| !v.is_null()))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let number = |keys: &[&str]| -> Value {
        keys.iter()
            .find_map(|k| match attributes.get(*k) {
                Some(n @ Value::Number(_)) => Some(n.clone()),
                Some(Value::String(s)) => s.parse::<u64>().map(Value::from).ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                }),
                _ => None,
            })
            .unwrap_or(Value::Null)
    };
    let cut = |s: Option<String>| -> Value {
        match (s, trunc) {
            (Some(s), Some(n)) => Value::String(s.chars().take(n).collect()),
            (Some(s), None) => Value::String(s),
            (None, _) => Value::Null,
        }
    };
    let model = text(READS.model);
    let is_tool = READS.tool[..2].iter().any(|k| attributes.contains_key(*k))
        || attributes
            .get("traceloop.span.kind")
            .and_then(Value::as_str)
            == Some("tool");
    let span_type = if model.is_some() {
        "LLM_GENERATION"
    } else if is_tool {
        "TOOL_CALL"
    } else {
        "INTERNAL"
    };
    let status = match r.status_code.as_str() {
        "ok" => "OK",
        "error" => "ERROR",
        _ => "UNSET",
    };
    let flat: Map<String, Value> = attributes
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(_) | Value::Number(_) => v.clone(),
                other => Value::String(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect();
    json!({
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "parent_span_id": optional(r.parent_span_id),
        "span_name": r.name,
        "span_type": span_type,
        "status": status,
        "start_time_ns": r.start_time_ns,
        "end_time_ns": r.end_time_ns,
        "duration_ns": r.duration_ns,
        "input": cut(text(READS.input)),
        "output": cut(text(READS.output)),
        "input_tokens": number(READS.input_tokens),
        "output_tokens": number(READS.output_tokens),
        "model": model,
        "provider": text(READS.provider),
        "attributes": flat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(attributes: Value) -> SpanRow {
        SpanRow {
            trace_id: "ab".into(),
            span_id: "cd".into(),
            parent_span_id: String::new(),
            name: "chat".into(),
            status_code: "error".into(),
            start_time_ns: 1,
            end_time_ns: 3,
            duration_ns: 2,
            attributes: attributes.to_string(),
        }
    }

    #[test]
    fn a_generation_reads_model_tokens_and_text() {
        let v = span_json(
            span(
                json!({"gen_ai.request.model": "gpt", "gen_ai.system": "openai",
                "gen_ai.prompt": "hello there", "gen_ai.usage.input_tokens": 12,
                "ai.usage.completionTokens": "7", "ok": true, "list": [1]}),
            ),
            Some(5),
        );
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
        let tool = span_json(
            span(json!({"ai.toolCall.name": "search", "ai.toolCall.args": "{}"})),
            None,
        );
        assert_eq!(tool["span_type"], "TOOL_CALL");
        assert_eq!(tool["input"], "{}");
        let plain = span_json(span(json!({})), None);
        assert_eq!(plain["span_type"], "INTERNAL");
        assert_eq!(plain["model"], Value::Null);
        let kind = span_json(span(json!({"traceloop.span.kind": "tool"})), None);
        assert_eq!(kind["span_type"], "TOOL_CALL");
    }
}
