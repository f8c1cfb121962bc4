//! Signals and signal groups (`@raindrop-ai/query` 0.1.13, `signals-*.ts`,
//! `signal-groups-*.ts`).
//!
//! downpour stores signal *instances* (`POST /v1/signals/track`: one per
//! thumbs-up, edit, agent step, ...). The Query API's signal is a
//! *definition*: here, one per distinct `signal_name` of the project, its
//! id the name itself (so an event's `signals[].id` finds it):
//! `{id, type: "instrumented", name, description: null, created_at (first
//! instance), group_id, group_name, sentiment}`. Its group is the
//! `signal_type` of its latest instance (`default`, `feedback`, `edit`,
//! `agent`, ...: what the SDKs send to tell kinds of signal apart, so the
//! natural grouping); its sentiment that of its latest instance that had
//! one, else `NEUTRAL`.
//!
//! A signal group: `{id, name (both the type), description: null, org_id,
//! created_at, updated_at (first and latest instance of its signals),
//! signal_count}`.
//!
//! Routes: `GET /v1/signals` (list), `/v1/signals/{id}`,
//! `/v1/signal-groups` (list), `/v1/signal-groups/{id}` and
//! `/v1/signal-groups/{id}/signals` (list); an unknown id is a 404.
//!
//! Invariants: aggregates over the project's `signals` rows (min, max,
//! argMax, uniqExact), which a redelivered row cannot change, so no
//! `FINAL`; every value bound.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conditions::scoped;
use super::filter::Filters;
use super::list::{Listing, Page};
use super::params::{iso, optional};
use super::sql::{Arg, Select};
use super::{Scope, not_found};
use crate::http::ApiError;

/// A signal: one name of the project's signals (`SignalsListData`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Signal {
    /// The name, which is the id.
    pub id: String,
    /// Always `instrumented`: sent by an SDK.
    #[serde(rename = "type")]
    pub kind: SignalKind,
    /// The name.
    pub name: String,
    /// Always null: signals are not described on ingest.
    pub description: Option<String>,
    /// When the name was first sent, ISO 8601.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its group: the `signal_type` it was last sent with.
    pub group_id: Option<String>,
    /// The group's name (the same).
    pub group_name: Option<String>,
    /// The latest sentiment sent with it; `NEUTRAL` when none.
    pub sentiment: Sentiment,
}

/// How a signal came to be.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// Sent by an SDK (`POST /v1/signals/track`).
    Instrumented,
}

/// A signal's sentiment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sentiment {
    /// Sent as `POSITIVE`.
    Positive,
    /// Sent as `NEGATIVE`.
    Negative,
    /// None sent.
    Neutral,
}

/// A signal group: one `signal_type` (`SignalGroupsListData`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalGroup {
    /// The signal type, which is the id.
    pub id: String,
    /// The same.
    pub name: String,
    /// Always null.
    pub description: Option<String>,
    /// The caller's org.
    pub org_id: String,
    /// First instance of one of its signals, ISO 8601.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Latest instance of one of its signals, ISO 8601.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Signal names in the group.
    pub signal_count: u64,
}

/// One row per signal name: the definitions.
const DEFINITIONS: &str = "SELECT signal_name AS id, min(timestamp_ms) AS created_ms, \
     argMax(signal_type, timestamp_ms) AS grp, \
     argMaxIf(sentiment, timestamp_ms, sentiment != '') AS sentiment \
     FROM signals WHERE org = ? AND project = ? GROUP BY signal_name";

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Definition {
    id: String,
    created_ms: u64,
    grp: String,
    sentiment: String,
}

/// One row per signal type: the groups.
const GROUPS: &str = "SELECT grp AS id, min(created_ms) AS created_ms, max(last_ms) AS updated_ms, \
     count() AS signal_count FROM (SELECT signal_name, argMax(signal_type, timestamp_ms) AS grp, \
     min(timestamp_ms) AS created_ms, max(timestamp_ms) AS last_ms FROM signals \
     WHERE org = ? AND project = ? GROUP BY signal_name) GROUP BY grp";

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Group {
    id: String,
    created_ms: u64,
    updated_ms: u64,
    signal_count: u64,
}

fn definitions(scope: &Scope) -> Select {
    Select::over(
        "id, created_ms, grp, sentiment",
        DEFINITIONS,
        scoped(scope, []),
    )
}

fn groups(scope: &Scope) -> Select {
    Select::over(
        "id, created_ms, updated_ms, signal_count",
        GROUPS,
        scoped(scope, []),
    )
}

/// `GET /v1/signals`, or with `group` the signals of one group (404 when
/// the project has no such group).
pub async fn list(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
    group: Option<&str>,
) -> Result<Page<Signal>, ApiError> {
    let listing = Listing::parse(f)?;
    if let Some(id) = group
        && find_group(db, scope, id).await?.is_none()
    {
        return Err(not_found("signal group", id));
    }
    let mut q = definitions(scope);
    if let Some(id) = group {
        q.and("grp = ?", [Arg::Text(id.to_string())]);
    }
    let rows: Vec<Definition> = listing.page(q, "created_ms", "id").fetch(db).await?;
    Ok(listing.answer(rows, |r| (r.created_ms, &r.id), definition_json))
}

/// `GET /v1/signals/{id}`: the signal named `id`, if the project has one.
pub async fn get(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<Signal>, ApiError> {
    let mut q = definitions(scope);
    q.and("id = ?", [Arg::Text(id.to_string())]);
    let rows: Vec<Definition> = q.page("", 1).fetch(db).await?;
    Ok(rows.into_iter().next().map(definition_json))
}

/// `GET /v1/signal-groups`.
pub async fn list_groups(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Page<SignalGroup>, ApiError> {
    let listing = Listing::parse(f)?;
    let rows: Vec<Group> = listing
        .page(groups(scope), "created_ms", "id")
        .fetch(db)
        .await?;
    Ok(listing.answer(rows, |r| (r.created_ms, &r.id), |r| group_json(scope, r)))
}

/// `GET /v1/signal-groups/{id}`: the group `id`, if the project has it.
pub async fn get_group(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<SignalGroup>, ApiError> {
    Ok(find_group(db, scope, id)
        .await?
        .map(|row| group_json(scope, row)))
}

async fn find_group(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<Group>, ApiError> {
    let mut q = groups(scope);
    q.and("id = ?", [Arg::Text(id.to_string())]);
    let rows: Vec<Group> = q.page("", 1).fetch(db).await?;
    Ok(rows.into_iter().next())
}

fn definition_json(r: Definition) -> Signal {
    let sentiment = match r.sentiment.as_str() {
        "POSITIVE" => Sentiment::Positive,
        "NEGATIVE" => Sentiment::Negative,
        _ => Sentiment::Neutral,
    };
    Signal {
        name: r.id.clone(),
        id: r.id,
        kind: SignalKind::Instrumented,
        description: None,
        created_at: iso(r.created_ms),
        group_id: optional(r.grp.clone()),
        group_name: optional(r.grp),
        sentiment,
    }
}

fn group_json(scope: &Scope, r: Group) -> SignalGroup {
    SignalGroup {
        name: r.id.clone(),
        id: r.id,
        description: None,
        org_id: scope.org.to_string(),
        created_at: iso(r.created_ms),
        updated_at: iso(r.updated_ms),
        signal_count: r.signal_count,
    }
}
