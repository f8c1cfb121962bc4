//! Conversations (`@raindrop-ai/query` 0.1.13, `conversations-list.ts`,
//! `conversations-get.ts`), built from the events' `convo_id`
//! (`ai_data.convo_id`): `{id, user_id (of its first event, null without
//! one), started_at, last_message_at (its first and last event),
//! message_count (distinct events), signals: [{id, name, count}]}` (the
//! signals its events carry, counted per name; a signal's id is its name).
//!
//! - `GET /v1/conversations`: a list (`list.rs`) by `last_message_at`,
//!   filtered by `user_id` (the text operators) and `started_at[..]`;
//! - `GET /v1/conversations/{id}`: one conversation, or a 404.
//!
//! Invariants: aggregates that a redelivered row cannot change (min, max,
//! argMin, uniqExact), so no `FINAL`; partial events count once finalized
//! (`partial_events_final`); every value bound.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Scope;
use super::conditions::{self, scoped};
use super::filter::{Filters, Shape};
use super::list::{self, Listing, Page};
use super::params::{iso, optional};
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// A conversation (`ConversationsListData`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    /// The `convo_id`.
    pub id: String,
    /// The user of its first event; null when that event had none.
    pub user_id: Option<String>,
    /// Its first event, ISO 8601.
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Its last event, ISO 8601.
    #[schema(format = DateTime)]
    pub last_message_at: String,
    /// Distinct events.
    pub message_count: u64,
    /// The signals its events carry, per name.
    pub signals: Vec<ConversationSignal>,
}

/// A signal name and how often the conversation's events carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationSignal {
    /// The signal's id: its name.
    pub id: String,
    /// The signal's name.
    pub name: String,
    /// Instances on the conversation's events.
    pub count: u64,
}

/// One row per conversation. `/*one*/` marks where a lookup of one
/// conversation narrows each branch.
const CONVERSATIONS: &str = "SELECT convo_id, argMin(user_id, timestamp_ms) AS user_id, \
     min(timestamp_ms) AS started_ms, max(timestamp_ms) AS last_ms, \
     uniqExact(event_id) AS message_count FROM (\
     SELECT convo_id, user_id, timestamp_ms, event_id FROM events \
     WHERE org = ? AND project = ? AND convo_id != ''/*one*/ \
     UNION ALL SELECT convo_id, user_id, timestamp_ms, event_id FROM partial_events_final \
     WHERE org = ? AND project = ? AND convo_id != ''/*one*/) GROUP BY convo_id";

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ConvoRow {
    convo_id: String,
    user_id: String,
    started_ms: u64,
    last_ms: u64,
    message_count: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SignalCount {
    convo_id: String,
    signal_name: String,
    n: u64,
}

/// The parameters of `GET /v1/conversations`.
pub fn params() -> Vec<(&'static str, Shape)> {
    list::params(&[("user_id", Shape::Text), ("started_at", Shape::Range)])
}

fn conversations(scope: &Scope, one: Option<&str>) -> Select {
    let mut args = Vec::new();
    for _ in 0..2 {
        args.extend(scoped(scope, one.map(|id| Arg::Text(id.to_string()))));
    }
    let narrow = if one.is_some() {
        " AND convo_id = ?"
    } else {
        ""
    };
    Select::over(
        "convo_id, user_id, started_ms, last_ms, message_count",
        &CONVERSATIONS.replace("/*one*/", narrow),
        args,
    )
}

/// One page of conversations.
pub async fn list(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Page<Conversation>, ApiError> {
    let listing = Listing::parse(f)?;
    let mut q = conversations(scope, None);
    conditions::text(&mut q, f, "user_id", "user_id");
    conditions::range(&mut q, f, "started_at", "started_ms")?;
    let rows: Vec<ConvoRow> = listing.page(q, "last_ms", "convo_id").fetch(db).await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.convo_id.as_str()).collect();
    let signals = signals_of(db, scope, &ids).await?;
    Ok(listing.answer(
        rows,
        |r| (r.last_ms, &r.convo_id),
        |r| convo_json(r, &signals),
    ))
}

/// `GET /v1/conversations/{id}`: the conversation, if the project has it.
pub async fn get(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<Conversation>, ApiError> {
    let rows: Vec<ConvoRow> = conversations(scope, Some(id)).page("", 1).fetch(db).await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let signals = signals_of(db, scope, &[id]).await?;
    Ok(Some(convo_json(row, &signals)))
}

/// Signals per name on the events of the conversations `ids`.
async fn signals_of(
    db: &clickhouse::Client,
    scope: &Scope,
    ids: &[&str],
) -> Result<Vec<SignalCount>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT convo_id, signal_name, count() AS n FROM \
         (SELECT event_id, signal_name FROM signals FINAL WHERE org = ? AND project = ?) \
         ANY INNER JOIN \
         (SELECT event_id, convo_id FROM events WHERE org = ? AND project = ? AND convo_id IN ({marks}) \
          UNION ALL SELECT event_id, convo_id FROM partial_events_final \
          WHERE org = ? AND project = ? AND convo_id IN ({marks})) \
         USING event_id GROUP BY convo_id, signal_name ORDER BY convo_id, n DESC, signal_name"
    );
    let mut args = scoped(scope, []);
    for _ in 0..2 {
        args.extend(scoped(
            scope,
            ids.iter().map(|id| Arg::Text(id.to_string())),
        ));
    }
    Select::over("convo_id, signal_name, n", &sql, args)
        .fetch(db)
        .await
}

fn convo_json(r: ConvoRow, signals: &[SignalCount]) -> Conversation {
    let signals = signals
        .iter()
        .filter(|s| s.convo_id == r.convo_id)
        .map(|s| ConversationSignal {
            id: s.signal_name.clone(),
            name: s.signal_name.clone(),
            count: s.n,
        })
        .collect();
    Conversation {
        id: r.convo_id,
        user_id: optional(r.user_id),
        started_at: iso(r.started_ms),
        last_message_at: iso(r.last_ms),
        message_count: r.message_count,
        signals,
    }
}
