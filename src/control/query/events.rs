//! Events in the Raindrop Query API's shapes (`@raindrop-ai/query` 0.1.13,
//! `events-list.ts`, `events-get.ts`, `events-count.ts`):
//!
//! - `GET /v1/events`: a list (`list.rs`: `limit`, `cursor`, `order_by`)
//!   under the filters of [`EVENT_FILTERS`];
//! - `GET /v1/events/count`: `{data: {total}}`, distinct `count_by`
//!   (`event_id`, the default, `user_id` or `convo_id`) under the same filters;
//! - `GET /v1/events/{id}`: `{data: event}` with its signals, or a 404.
//!
//! An event: `id`, `event_name`, `user_id` and `convo_id` (null when not
//! sent), `timestamp`, `received_at`, `user_input` / `assistant_output` (the
//! AI input and output, null when not sent), `model`, `input_attachments`
//! / `output_attachments` (by the attachment's `role`; `context` ones with
//! the input), `signals` (`{id, name}`, once per name; the id is the name),
//! `feature_flags` (values as
//! strings), `properties`.
//!
//! Reads see what `events_view` holds, scoped before `FINAL` (`store`
//! explains why), every value bound.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Scope;
use super::conditions::{self, EVENT_FILTERS};
use super::filter::{Filters, Shape};
use super::list::{self, Listing};
use super::params::{iso, optional};
use super::sql::{Arg, Select};
use crate::http::ApiError;

const COLUMNS: &str = "project, event_id, user_id, event, timestamp_ms, received_at, ai_model, \
     ai_input, ai_output, convo_id, properties, attachments, feature_flags";

/// What `events_view` reads: events, and partial events once finalized.
pub(super) const TABLES: &[&str] = &["events FINAL", "partial_events_final"];

#[derive(Debug, clickhouse::Row, Deserialize)]
struct EventRow {
    project: String,
    event_id: String,
    user_id: String,
    event: String,
    timestamp_ms: u64,
    received_at: u32,
    ai_model: String,
    ai_input: String,
    ai_output: String,
    convo_id: String,
    properties: String,
    attachments: String,
    feature_flags: String,
}

/// The parameters of `GET /v1/events`.
pub fn list_params() -> Vec<(&'static str, Shape)> {
    list::params(EVENT_FILTERS)
}

/// The parameters of `GET /v1/events/count`.
pub fn count_params() -> Vec<(&'static str, Shape)> {
    let mut p = vec![("count_by", Shape::Plain)];
    p.extend_from_slice(EVENT_FILTERS);
    p
}

/// The events' columns over [`TABLES`], scoped: the query that
/// [`page`] answers once conditions are added.
pub(super) fn select(scope: &Scope) -> Select {
    Select::new(COLUMNS, TABLES, scope, None)
}

/// One page of events.
pub async fn list(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Value, ApiError> {
    let listing = Listing::parse(f)?;
    let mut q = select(scope);
    conditions::events(&mut q, scope, f)?;
    page(db, scope, &listing, q, |_| None).await
}

/// One page of the events `q` ([`select`] plus conditions) finds, each with
/// its signals; `refused` as in [`Select::fetch_or`].
pub(super) async fn page(
    db: &clickhouse::Client,
    scope: &Scope,
    listing: &Listing,
    q: Select,
    refused: impl Fn(&str) -> Option<ApiError>,
) -> Result<Value, ApiError> {
    let rows: Vec<EventRow> = listing
        .page(q, "timestamp_ms", "event_id")
        .fetch_or(db, refused)
        .await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    let signals = signals_of(db, scope, &ids).await?;
    Ok(listing.answer(
        rows,
        |r| (r.timestamp_ms, &r.event_id),
        |r| {
            let mine = signal_refs(&signals, &r.event_id);
            event_json(r, mine)
        },
    ))
}

/// `{data: {total}}`.
pub async fn count(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Value, ApiError> {
    let outer = count_by(f)?;
    let mut q = filtered(scope);
    conditions::events(&mut q, scope, f)?;
    let total: Vec<u64> = q.outer(outer).fetch(db).await?;
    Ok(json!({"data": {"total": total.first().copied().unwrap_or(0)}}))
}

/// The aggregate `count_by` asks for: distinct `event_id` (the default),
/// `user_id` or `convo_id` (events without one do not count).
pub(super) fn count_by(f: &Filters) -> Result<&'static str, ApiError> {
    match f.plain("count_by").unwrap_or("event_id") {
        "event_id" => Ok("uniqExact(event_id)"),
        "user_id" => Ok("uniqExactIf(user_id, user_id != '')"),
        "convo_id" => Ok("uniqExactIf(convo_id, convo_id != '')"),
        _ => Err(
            ApiError::bad_request("count_by", "must be event_id, user_id or convo_id")
                .with_allowed(&["event_id", "user_id", "convo_id"]),
        ),
    }
}

/// The columns the filters and the aggregates read, over [`TABLES`],
/// scoped; for counting ([`Select::outer`]) once conditions are added.
pub(super) fn filtered(scope: &Scope) -> Select {
    Select::new(
        "event_id, user_id, convo_id, event, timestamp_ms, properties",
        TABLES,
        scope,
        None,
    )
}

/// One event with its signals, if the project has it (the caller has
/// already answered an id over `MAX_ID_BYTES` as not found).
pub async fn get(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<Value>, ApiError> {
    let q = Select::new(COLUMNS, TABLES, scope, Some(("event_id", id)));
    let rows: Vec<EventRow> = q.page(" ORDER BY timestamp_ms DESC", 1).fetch(db).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let signals = signals_of(db, scope, &[id]).await?;
    let mine = signal_refs(&signals, id);
    Ok(Some(event_json(row, mine)))
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SignalRef {
    event_id: String,
    signal_name: String,
    /// Selected for the order.
    #[allow(dead_code)]
    timestamp_ms: u64,
}

/// The signals of `ids`, oldest first.
async fn signals_of(
    db: &clickhouse::Client,
    scope: &Scope,
    ids: &[&str],
) -> Result<Vec<SignalRef>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Select::new(
        "event_id, signal_name, timestamp_ms",
        &["signals FINAL"],
        scope,
        None,
    );
    let marks = vec!["?"; ids.len()].join(", ");
    q.and_sql(
        format!("event_id IN ({marks})"),
        ids.iter().map(|id| Arg::Text(id.to_string())).collect(),
    );
    q.page(" ORDER BY timestamp_ms ASC, signal_name ASC", 10_000)
        .fetch(db)
        .await
}

/// The signals `event_id` carries as the SDK's `{id, name}`, once per
/// name: a signal's id is its name (`signals.rs`), so `signals.get` finds it.
fn signal_refs(signals: &[SignalRef], event_id: &str) -> Vec<Value> {
    let mut names: Vec<&str> = Vec::new();
    for s in signals.iter().filter(|s| s.event_id == event_id) {
        if !names.contains(&s.signal_name.as_str()) {
            names.push(&s.signal_name);
        }
    }
    names
        .into_iter()
        .map(|n| json!({"id": n, "name": n}))
        .collect()
}

fn event_json(r: EventRow, signals: Vec<Value>) -> Value {
    let (input, output) = attachments(&r.attachments);
    let mut e = json!({
        "id": r.event_id,
        "event_name": r.event,
        "user_id": optional(r.user_id),
        "convo_id": optional(r.convo_id),
        "timestamp": iso(r.timestamp_ms),
        "received_at": iso(u64::from(r.received_at) * 1000),
        "user_input": optional(r.ai_input),
        "assistant_output": optional(r.ai_output),
        "input_attachments": input,
        "output_attachments": output,
        "signals": signals,
        "feature_flags": flags(&r.feature_flags),
        "properties": object(&r.properties),
        "project": r.project,
    });
    if !r.ai_model.is_empty() {
        e["model"] = Value::String(r.ai_model);
    }
    e
}

/// Stored attachments (`[{type, value, name?, role?, attachment_id?}]`) as
/// the SDK's `QueryEventAttachment`s, split by role.
fn attachments(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut input, mut output) = (Vec::new(), Vec::new());
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return (input, output);
    };
    for a in items {
        let mut out = Map::new();
        for (from, to) in [
            ("attachment_id", "attachment_id"),
            ("type", "attachment_type"),
            ("name", "name"),
            ("value", "value"),
        ] {
            if let Some(v) = a.get(from).filter(|v| !v.is_null()) {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                out.insert(to.into(), Value::String(text));
            }
        }
        match a.get("role").and_then(Value::as_str) {
            Some("output") => output.push(Value::Object(out)),
            _ => input.push(Value::Object(out)),
        }
    }
    (input, output)
}

/// `feature_flags` with every value a string (the SDK's `record<string,
/// string>`): strings as they are, anything else as its JSON.
fn flags(text: &str) -> Value {
    let Value::Object(map) = object(text) else {
        return json!({});
    };
    map.into_iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k, Value::String(text))
        })
        .collect::<Map<_, _>>()
        .into()
}

/// A stored JSON object; `{}` for anything else (an empty column).
fn object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_split_by_role_as_the_sdk_reads_them() {
        let (i, o) = attachments(
            r#"[{"type":"code","value":"SELECT 1","role":"input","name":"q"},
                {"type":"text","value":"ok","role":"output"},
                {"type":"image","value":"u","role":"context","attachment_id":"a1"}]"#,
        );
        assert_eq!(
            i,
            vec![
                json!({"attachment_type": "code", "value": "SELECT 1", "name": "q"}),
                json!({"attachment_type": "image", "value": "u", "attachment_id": "a1"}),
            ]
        );
        assert_eq!(o, vec![json!({"attachment_type": "text", "value": "ok"})]);
        assert_eq!(attachments("").0.len(), 0);
    }

    #[test]
    fn feature_flags_are_strings() {
        assert_eq!(
            flags(r#"{"a":"on","b":true,"c":3}"#),
            json!({"a": "on", "b": "true", "c": "3"})
        );
        assert_eq!(flags(""), json!({}));
    }
}
