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
//! `feature_flags` (values as strings), `properties`.
//!
//! Reads see what `events_view` holds (events, and partial events once
//! finalized), one row per event: lists from the time- or user-sorted
//! copies in windows (`window.rs`) with `LIMIT 1 BY event_id`, counts as
//! distinct ids (`per_hour`), a lookup by id in `events`. Scope and
//! narrowing go inside each table read (`query.rs` says why); every value
//! is bound.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Scope;
use super::conditions::{self, EVENT_FILTERS};
use super::filter::{Filters, Shape, TimeRange};
use super::list::{self, Listing, Page};
use super::params::{iso, optional};
use super::sql::{Arg, Narrow, Select};
use super::window::{self, Source, Span, Windows};
use crate::http::ApiError;

const COLUMNS: &str = "project, event_id, user_id, event, timestamp_ms, received_at, ai_model, \
     ai_input, ai_output, convo_id, properties, attachments, feature_flags";

/// What `events_view` reads, for a lookup by id: events (sorted by id: one
/// granule; no `FINAL`, the page of one keeps one of its copies), and
/// partial events once finalized.
const BY_ID: &[&str] = &["events", PARTIALS];

/// Partial events once finalized (a view; few rows beside the events).
const PARTIALS: &str = "partial_events_final";

/// An event as the Query API answers it (`EventsListData` of the SDK).
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// `event_id`.
    pub id: String,
    /// The event's name (`event` on ingest).
    pub event_name: String,
    /// Null when not sent.
    pub user_id: Option<String>,
    /// `ai_data.convo_id`; null when not sent.
    pub convo_id: Option<String>,
    /// When it happened, ISO 8601.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// When the edge received it, ISO 8601.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// `ai_data.input`.
    pub user_input: Option<String>,
    /// `ai_data.output`.
    pub assistant_output: Option<String>,
    /// `ai_data.model`; absent when not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Attachments with the `input` or `context` role (or none).
    pub input_attachments: Vec<Attachment>,
    /// Attachments with the `output` role.
    pub output_attachments: Vec<Attachment>,
    /// The signals it carries, once per name.
    pub signals: Vec<SignalRef>,
    /// Feature flags, every value as a string.
    pub feature_flags: BTreeMap<String, String>,
    /// Its properties as sent.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// The project's slug.
    pub project: String,
}

/// An attachment (`QueryEventAttachment`).
#[derive(Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Attachment {
    /// The attachment's id, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    /// `code`, `text`, `image` or `iframe`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<String>,
    /// Its name, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A signal an event carries: its definition's id (the name) and name.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalRef {
    /// The signal's id: its name (`GET /v1/signals/{id}`).
    pub id: String,
    /// The signal's name.
    pub name: String,
}

/// `{data: {total}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    /// The count.
    pub data: Total,
}

/// A count.
#[derive(Debug, Serialize, ToSchema)]
pub struct Total {
    /// Distinct `count_by` values.
    pub total: u64,
}

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

/// One page of events.
pub async fn list(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Page<Event>, ApiError> {
    let listing = Listing::parse(f)?;
    page(db, scope, &listing, f, |_| Ok(()), |_| None).await
}

/// One page of the events under the event filters of `f` and whatever
/// `more` adds, each with its signals: read newest (or oldest) first in
/// widening time windows (`window.rs`) from the time-sorted copies, one row
/// per event; `refused` as in [`Select::fetch_or`].
pub(super) async fn page(
    db: &clickhouse::Client,
    scope: &Scope,
    listing: &Listing,
    f: &Filters,
    more: impl Fn(&mut Select) -> Result<(), ApiError>,
    refused: impl Fn(&str) -> Option<ApiError>,
) -> Result<Page<Event>, ApiError> {
    let source = window::source(f);
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let span = span_of(db, scope, &source).await?;
    let mut windows = Windows::new(listing, &f.range("timestamp")?, now, span);
    let mut rows: Vec<EventRow> = Vec::new();
    while let Some((time, last)) = windows.next_window() {
        let mut narrow = source.narrow.clone();
        narrow.extend(time);
        let mut q = Select::new(COLUMNS, &[source.table, PARTIALS], scope, &narrow);
        conditions::events(&mut q, scope, f)?;
        more(&mut q)?;
        rows = listing
            .page_once(q, "timestamp_ms", "event_id")
            .fetch_or(db, &refused)
            .await?;
        if last || rows.len() > usize::try_from(listing.limit).unwrap_or(usize::MAX) {
            break;
        }
    }
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

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SpanRow {
    first_ms: u64,
    last_ms: u64,
    rows: u64,
}

/// Where `source`'s rows lie: the project's (`event_time_span`), or one
/// user's (its rows in `events_by_user`, contiguous); `None` without rows.
async fn span_of(
    db: &clickhouse::Client,
    scope: &Scope,
    source: &Source,
) -> Result<Option<Span>, ApiError> {
    let q = match source.narrow.as_slice() {
        [Narrow::Eq("user_id", user)] => {
            let mut args = conditions::scoped(scope, []);
            args.push(Arg::Text(user.clone()));
            Select::over(
                "first_ms, last_ms, rows",
                "SELECT min(timestamp_ms) AS first_ms, max(timestamp_ms) AS last_ms, \
                 count() AS rows FROM events_by_user \
                 WHERE org = ? AND project = ? AND user_id = ?",
                args,
            )
        }
        _ => Select::over(
            "first_ms, last_ms, rows",
            "SELECT minMerge(first_ms) AS first_ms, maxMerge(last_ms) AS last_ms, \
             countMerge(rows) AS rows FROM event_time_span WHERE org = ? AND project = ?",
            conditions::scoped(scope, []),
        ),
    };
    let spans: Vec<SpanRow> = q.fetch(db).await?;
    Ok(spans.into_iter().find(|s| s.rows > 0).map(|s| Span {
        first_ms: s.first_ms,
        last_ms: s.last_ms,
        rows: s.rows,
    }))
}

/// `{data: {total}}`.
pub async fn count(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Count, ApiError> {
    let count = count_by(f)?;
    let mut q = filtered(scope, &f.range("timestamp")?);
    conditions::events(&mut q, scope, f)?;
    let total: Vec<u64> = if count == DISTINCT_EVENTS {
        let (hours, args) = per_hour(q, None).into_source();
        Select::over("sum(n)", &hours, args).fetch(db).await?
    } else {
        q.outer(count).fetch(db).await?
    };
    Ok(Count {
        data: Total {
            total: total.first().copied().unwrap_or(0),
        },
    })
}

/// Distinct events: `count_by=event_id`, the default.
pub(super) const DISTINCT_EVENTS: &str = "uniqExact(event_id)";

/// Distinct events per hour (and per `key`, an expression aliased
/// `alias`), over `q`'s rows: `(alias,) hour, n`. Every copy of an event
/// has its timestamp, so the hours' counts add up to the exact count; and
/// the rows come in time order (`events_by_time`), so each hour's set of
/// ids is built while it is in cache: 5× faster than one set of all ids
/// (per minute is no faster, and makes facets' groups 60× as many).
pub(super) fn per_hour(q: Select, key: Option<(&str, &str)>) -> Select {
    let (columns, group) = match key {
        Some((expr, alias)) => (
            format!(
                "{expr} AS {alias}, intDiv(timestamp_ms, 3600000) AS hour, {DISTINCT_EVENTS} AS n"
            ),
            format!(" GROUP BY {alias}, hour"),
        ),
        None => (
            format!("intDiv(timestamp_ms, 3600000) AS hour, {DISTINCT_EVENTS} AS n"),
            " GROUP BY hour".to_string(),
        ),
    };
    q.outer(&columns).tail(&group, [])
}

/// The aggregate `count_by` asks for: distinct `event_id` (the default),
/// `user_id` or `convo_id` (events without one do not count).
pub(super) fn count_by(f: &Filters) -> Result<&'static str, ApiError> {
    match f.plain("count_by").unwrap_or("event_id") {
        "event_id" => Ok(DISTINCT_EVENTS),
        "user_id" => Ok("uniqExactIf(user_id, user_id != '')"),
        "convo_id" => Ok("uniqExactIf(convo_id, convo_id != '')"),
        _ => Err(
            ApiError::bad_request("count_by", "must be event_id, user_id or convo_id")
                .with_allowed(&["event_id", "user_id", "convo_id"]),
        ),
    }
}

/// The columns the filters and the aggregates read, scoped and within
/// `range`, from the time-sorted copy (the range prunes it)
/// and the finalized partial events; for counting ([`Select::outer`]) once
/// conditions are added. No `FINAL`: the aggregates count distinct
/// `event_id`s, which an unmerged copy does not change.
pub(super) fn filtered(scope: &Scope, range: &TimeRange) -> Select {
    Select::new(
        "event_id, user_id, convo_id, event, timestamp_ms, properties",
        &["events_by_time", PARTIALS],
        scope,
        &window::bounds(range),
    )
}

/// One event with its signals, if the project has it (the caller has
/// already answered an id over `MAX_ID_BYTES` as not found).
pub async fn get(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<Event>, ApiError> {
    let q = Select::new(
        COLUMNS,
        BY_ID,
        scope,
        &[Narrow::Eq("event_id", id.to_string())],
    );
    let rows: Vec<EventRow> = q.page(" ORDER BY timestamp_ms DESC", 1).fetch(db).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let signals = signals_of(db, scope, &[id]).await?;
    let mine = signal_refs(&signals, id);
    Ok(Some(event_json(row, mine)))
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SignalRow {
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
) -> Result<Vec<SignalRow>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids as PREWHERE: the sorting key (org, project, event_id) picks
    // their granules, and only their rows are read whole. No `FINAL`: a
    // copy repeats a name, and each name is listed once.
    let q = Select::new(
        "event_id, signal_name, timestamp_ms",
        &["signals"],
        scope,
        &[Narrow::PreIn(
            "event_id",
            ids.iter().map(|id| id.to_string()).collect(),
        )],
    );
    q.page(" ORDER BY timestamp_ms ASC, signal_name ASC", 10_000)
        .fetch(db)
        .await
}

/// The signals `event_id` carries as the SDK's `{id, name}`, once per
/// name: a signal's id is its name (`signals.rs`), so `signals.get` finds it.
fn signal_refs(signals: &[SignalRow], event_id: &str) -> Vec<SignalRef> {
    let mut names: Vec<&str> = Vec::new();
    for s in signals.iter().filter(|s| s.event_id == event_id) {
        if !names.contains(&s.signal_name.as_str()) {
            names.push(&s.signal_name);
        }
    }
    names
        .into_iter()
        .map(|n| SignalRef {
            id: n.to_string(),
            name: n.to_string(),
        })
        .collect()
}

fn event_json(r: EventRow, signals: Vec<SignalRef>) -> Event {
    let (input_attachments, output_attachments) = attachments(&r.attachments);
    Event {
        id: r.event_id,
        event_name: r.event,
        user_id: optional(r.user_id),
        convo_id: optional(r.convo_id),
        timestamp: iso(r.timestamp_ms),
        received_at: iso(u64::from(r.received_at) * 1000),
        user_input: optional(r.ai_input),
        assistant_output: optional(r.ai_output),
        model: optional(r.ai_model),
        input_attachments,
        output_attachments,
        signals,
        feature_flags: flags(&r.feature_flags),
        properties: object(&r.properties),
        project: r.project,
    }
}

/// Stored attachments (`[{type, value, name?, role?, attachment_id?}]`) as
/// the SDK's `QueryEventAttachment`s, split by role.
fn attachments(text: &str) -> (Vec<Attachment>, Vec<Attachment>) {
    let (mut input, mut output) = (Vec::new(), Vec::new());
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return (input, output);
    };
    for a in items {
        let field = |name: &str| {
            a.get(name)
                .filter(|v| !v.is_null())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        let out = Attachment {
            attachment_id: field("attachment_id"),
            attachment_type: field("type"),
            name: field("name"),
            value: field("value"),
        };
        match a.get("role").and_then(Value::as_str) {
            Some("output") => output.push(out),
            _ => input.push(out),
        }
    }
    (input, output)
}

/// `feature_flags` with every value a string (the SDK's `record<string,
/// string>`): strings as they are, anything else as its JSON.
fn flags(text: &str) -> BTreeMap<String, String> {
    object(text)
        .into_iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k, text)
        })
        .collect()
}

/// A stored JSON object; empty for anything else (an empty column).
fn object(text: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
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
        let json = |a: &[Attachment]| serde_json::to_value(a).expect("serializes");
        assert_eq!(
            json(&i),
            serde_json::json!([
                {"attachment_type": "code", "value": "SELECT 1", "name": "q"},
                {"attachment_type": "image", "value": "u", "attachment_id": "a1"},
            ])
        );
        assert_eq!(
            json(&o),
            serde_json::json!([{"attachment_type": "text", "value": "ok"}])
        );
        assert_eq!(attachments("").0.len(), 0);
    }

    #[test]
    fn feature_flags_are_strings() {
        let f = flags(r#"{"a":"on","b":true,"c":3}"#);
        assert_eq!(
            serde_json::to_value(f).expect("serializes"),
            serde_json::json!({"a": "on", "b": "true", "c": "3"})
        );
        assert!(flags("").is_empty());
    }
}
