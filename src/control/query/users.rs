//! Users (`@raindrop-ai/query` 0.1.13, `users-list.ts`, `users-get.ts`).
//!
//! A user of the project is a `user_id` its events or its identify calls
//! name: `{id, traits (the latest identify's, null without one),
//! first_seen, last_seen (the earliest and latest of its events and its
//! latest identify: `users` keeps one identify per user once merged),
//! event_count (distinct events)}`.
//!
//! - `GET /v1/users`: a list (`list.rs`) by `last_seen`, filtered by
//!   `user_id` (the text operators), `first_seen[..]` / `last_seen[..]`
//!   (time bounds) and `traits[k]` (as the events' `traits` filter);
//! - `GET /v1/users/{id}`: one user, or a 404.
//!
//! Invariants: one aggregate per user: events from `events_by_user` (the
//! copy of `events` sorted by user, `sql/0007_query_tables.sql`: a lookup
//! reads that user's rows only), finalized partial events from
//! `partial_events_final`, traits from `users`. min, max, `uniqExact` and
//! `argMax(traits, version)` are the same whether or not a row was
//! delivered twice, so no `FINAL`; every value bound.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Scope;
use super::conditions;
use super::filter::{Filters, Shape};
use super::list::{self, Listing, Page};
use super::params::iso;
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// A user (`UsersListData`).
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    /// The `user_id`.
    pub id: String,
    /// The latest identify's traits; null when never identified.
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Map<String, Value>>,
    /// Earliest event or identify, ISO 8601.
    #[schema(format = DateTime)]
    pub first_seen: String,
    /// Latest event or identify, ISO 8601.
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// Distinct events.
    pub event_count: u64,
}

/// One row per user: events (and finalized partial events) and identifies.
/// `/*one*/` marks where a lookup of one user narrows each branch.
const USERS: &str = "SELECT user_id, min(first) AS first_ms, max(last) AS last_ms, \
     sum(n) AS event_count, argMaxIf(traits, version, is_identify = 1) AS traits, \
     max(is_identify) AS identified FROM (\
     SELECT user_id, min(timestamp_ms) AS first, max(timestamp_ms) AS last, \
     uniqExact(event_id) AS n, '' AS traits, toUInt64(0) AS version, toUInt8(0) AS is_identify \
     FROM events_by_user WHERE org = ? AND project = ?/*one*/ GROUP BY user_id \
     UNION ALL SELECT user_id, min(timestamp_ms) AS first, max(timestamp_ms) AS last, \
     uniqExact(event_id) AS n, '' AS traits, toUInt64(0) AS version, toUInt8(0) AS is_identify \
     FROM partial_events_final WHERE org = ? AND project = ? AND user_id != ''/*one*/ GROUP BY user_id \
     UNION ALL SELECT user_id, timestamp_ms AS first, timestamp_ms AS last, toUInt64(0) AS n, traits, \
     version, toUInt8(1) AS is_identify FROM users WHERE org = ? AND project = ?/*one*/) \
     GROUP BY user_id";

#[derive(Debug, clickhouse::Row, Deserialize)]
struct UserRow {
    user_id: String,
    first_ms: u64,
    last_ms: u64,
    event_count: u64,
    traits: String,
    identified: u8,
}

/// The parameters of `GET /v1/users`.
pub fn params() -> Vec<(&'static str, Shape)> {
    list::params(&[
        ("user_id", Shape::Text),
        ("first_seen", Shape::Range),
        ("last_seen", Shape::Range),
        ("traits", Shape::Values),
    ])
}

/// Every user of the project, or with `one` only that one (narrowed in
/// each branch, before the grouping).
fn users(scope: &Scope, one: Option<&str>) -> Select {
    let mut args = Vec::new();
    for _ in 0..3 {
        args.extend(conditions::scoped(
            scope,
            one.map(|id| Arg::Text(id.to_string())),
        ));
    }
    let narrow = if one.is_some() {
        " AND user_id = ?"
    } else {
        ""
    };
    Select::over(
        "user_id, first_ms, last_ms, event_count, traits, identified",
        &USERS.replace("/*one*/", narrow),
        args,
    )
}

/// One page of users.
pub async fn list(
    db: &clickhouse::Client,
    scope: &Scope,
    f: &Filters,
) -> Result<Page<User>, ApiError> {
    let listing = Listing::parse(f)?;
    let mut q = users(scope, None);
    conditions::text(&mut q, f, "user_id", "user_id");
    conditions::range(&mut q, f, "first_seen", "first_ms")?;
    conditions::range(&mut q, f, "last_seen", "last_ms")?;
    conditions::values(&mut q, f, "traits", "traits")?;
    let rows: Vec<UserRow> = listing.page(q, "last_ms", "user_id").fetch(db).await?;
    Ok(listing.answer(rows, |r| (r.last_ms, &r.user_id), user_json))
}

/// One user, if the project has seen it.
pub async fn get(
    db: &clickhouse::Client,
    scope: &Scope,
    id: &str,
) -> Result<Option<User>, ApiError> {
    let rows: Vec<UserRow> = users(scope, Some(id)).page("", 1).fetch(db).await?;
    Ok(rows.into_iter().next().map(user_json))
}

fn user_json(r: UserRow) -> User {
    let traits = (r.identified == 1).then(|| match serde_json::from_str::<Value>(&r.traits) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    });
    User {
        id: r.user_id,
        traits,
        first_seen: iso(r.first_ms),
        last_seen: iso(r.last_ms),
        event_count: r.event_count,
    }
}
