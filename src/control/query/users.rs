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
//! Invariants: one aggregate per user over the project's rows; min, max,
//! `uniqExact(event_id)` and `argMax(traits, version)` are the same whether
//! or not a row was delivered twice, so no `FINAL` (partial events only
//! once finalized, through `partial_events_final`); every value bound.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Scope;
use super::conditions;
use super::filter::{Filters, Shape};
use super::list::{self, Listing};
use super::params::iso;
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// One row per user: events (and finalized partial events) and identifies.
/// `/*one*/` marks where a lookup of one user narrows each branch.
const USERS: &str = "SELECT user_id, min(ms) AS first_ms, max(ms) AS last_ms, \
     uniqExactIf(event_id, event_id != '') AS event_count, \
     argMaxIf(traits, version, is_identify = 1) AS traits, max(is_identify) AS identified \
     FROM (\
     SELECT user_id, timestamp_ms AS ms, event_id, '' AS traits, toUInt64(0) AS version, \
     toUInt8(0) AS is_identify FROM events WHERE org = ? AND project = ? AND user_id != ''/*one*/ \
     UNION ALL SELECT user_id, timestamp_ms AS ms, event_id, '' AS traits, toUInt64(0) AS version, \
     toUInt8(0) AS is_identify FROM partial_events_final WHERE org = ? AND project = ? AND user_id != ''/*one*/ \
     UNION ALL SELECT user_id, timestamp_ms AS ms, '' AS event_id, traits, version, \
     toUInt8(1) AS is_identify FROM users WHERE org = ? AND project = ?/*one*/) GROUP BY user_id";

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
pub async fn list(db: &clickhouse::Client, scope: &Scope, f: &Filters) -> Result<Value, ApiError> {
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
) -> Result<Option<Value>, ApiError> {
    let rows: Vec<UserRow> = users(scope, Some(id)).page("", 1).fetch(db).await?;
    Ok(rows.into_iter().next().map(user_json))
}

fn user_json(r: UserRow) -> Value {
    let traits = if r.identified == 1 {
        match serde_json::from_str::<Value>(&r.traits) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        }
    } else {
        Value::Null
    };
    json!({
        "id": r.user_id,
        "traits": traits,
        "first_seen": iso(r.first_ms),
        "last_seen": iso(r.last_ms),
        "event_count": r.event_count,
    })
}
