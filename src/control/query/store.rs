//! The Query API's reads of signals and users (events: `events.rs`) and the
//! JSON they become.
//!
//! SQL text is built only from the constants below; every value (org,
//! project, filters, cursor, limit) goes through the clickhouse crate's
//! `.bind()`, which quotes and escapes it.
//!
//! Why not `SELECT ... FROM events_view WHERE org = ? AND project = ?`: on
//! ClickHouse 18.16 a `WHERE` outside a view is not pushed into its `FINAL`
//! read, and `FINAL` there merges rows of *every* partition by the sorting
//! key alone. `events` and `users` are keyed by `event_id` and `user_id`,
//! ids the clients choose, so the same id in two projects or two orgs
//! collapses to one row and the reader of one of them loses it (checked on
//! 18.16.1). So each read puts the (org, project) predicates on the tables
//! themselves, where they prune to the one partition before `FINAL` merges,
//! and keeps the views' meaning: `FINAL` (a row delivered twice shows once)
//! plus `partial_events_final` (a partial event only once finalized; grouped
//! by org, project and event_id, its patches keyed by an edge-made patch_id).
//!
//! Performance: filters other than the scope and the id of a single lookup
//! apply outside the `FINAL` read (after the merge, so a stale version never
//! matches); without predicate pushdown a page reads its project's whole
//! partition. Correctness first.

use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{Cursor, cut_page, iso, optional};
use super::sql::Select;
use super::{Page, Scope};
use crate::http::ApiError;

const SIGNAL_COLUMNS: &str = "project, signal_id, event_id, signal_name, signal_type, sentiment, attachment_id, \
     timestamp_ms, properties";

/// Filters of `GET /v1/signals`.
#[derive(Debug, Default)]
pub struct SignalFilter<'a> {
    /// The event the signal is about.
    pub event_id: Option<&'a str>,
    /// Signal name.
    pub signal_name: Option<&'a str>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SignalRow {
    project: String,
    signal_id: String,
    event_id: String,
    signal_name: String,
    signal_type: String,
    sentiment: String,
    attachment_id: String,
    timestamp_ms: u64,
    properties: String,
}

/// One page of signals, newest first.
pub async fn signals(
    db: &clickhouse::Client,
    scope: &Scope,
    filter: &SignalFilter<'_>,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<Page, ApiError> {
    let mut q = Select::new(SIGNAL_COLUMNS, &["signals FINAL"], scope, None);
    q.text_eq("event_id = ?", filter.event_id);
    q.text_eq("signal_name = ?", filter.signal_name);
    q.after(
        "(timestamp_ms < ? OR (timestamp_ms = ? AND signal_id < ?))",
        cursor,
    );
    let rows: Vec<SignalRow> = q
        .page(" ORDER BY timestamp_ms DESC, signal_id DESC", limit)
        .fetch(db)
        .await?;
    Ok(page(
        rows,
        limit,
        |r| (r.timestamp_ms, &r.signal_id),
        signal_json,
    ))
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct UserRow {
    project: String,
    user_id: String,
    traits: String,
    timestamp_ms: u64,
    #[allow(dead_code)]
    version: u64,
}

/// A user's latest identify, if the project has one.
pub async fn user(
    db: &clickhouse::Client,
    scope: &Scope,
    user_id: &str,
) -> Result<Option<Value>, ApiError> {
    // ReplacingMergeTree(version) without FINAL: the row with the highest
    // version (the edge's receive time) is the latest identify, merged or not.
    let q = Select::new(
        "project, user_id, traits, timestamp_ms, version",
        &["users"],
        scope,
        Some(("user_id", user_id)),
    );
    let rows: Vec<UserRow> = q.page(" ORDER BY version DESC", 1).fetch(db).await?;
    Ok(rows.into_iter().next().map(|r| {
        json!({
            "user_id": r.user_id,
            "traits": parsed(r.traits),
            "timestamp": iso(r.timestamp_ms),
            "project": r.project,
        })
    }))
}

/// The first `limit` rows as JSON, and a cursor after the last one when
/// the query found more.
fn page<R>(
    mut rows: Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> (u64, &String),
    to_json: impl Fn(R) -> Value,
) -> Page {
    let next_cursor = cut_page(&mut rows, limit, key);
    Page {
        data: rows.into_iter().map(to_json).collect(),
        next_cursor,
    }
}

fn signal_json(r: SignalRow) -> Value {
    json!({
        "signal_id": r.signal_id,
        "event_id": r.event_id,
        "signal_name": r.signal_name,
        "signal_type": r.signal_type,
        "sentiment": optional(r.sentiment),
        "attachment_id": optional(r.attachment_id),
        "timestamp": iso(r.timestamp_ms),
        "properties": parsed(r.properties),
        "project": r.project,
    })
}

/// Stored JSON text as JSON; the edge stores only valid JSON, so the string
/// fallback is for rows written some other way.
fn parsed(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}
