//! The Query API: reading back what was ingested, one project at a time,
//! in the Raindrop Query API's routes and shapes so the official client
//! (`@raindrop-ai/query` 0.1.13) works unmodified (issue 11, in progress):
//!
//! | route | module |
//! | --- | --- |
//! | `GET /v1/events`, `/v1/events/count`, `/v1/events/{id}` | `events` (filters: `filter`, `conditions`) |
//! | `GET /v1/signals`, `/v1/users/{user_id}` | `store` (downpour's earlier shapes, `{"data", "next_cursor"}`, until moved) |
//!
//! Errors answer the SDK's body (`crate::http::error::query_body`, a layer
//! on this router): `{"error": {"code", "message", "details": {"field",
//! "allowed_fields"}}}`.
//!
//! Invariants:
//! - Who: owner, admin and member keys read; SDK write keys get 403
//!   (docs/CONTRACT.md §C14).
//! - Which project: `X-Raindrop-Project-Id`, parsed as ingest parses it, but
//!   stricter (docs/CONTRACT.md §C19: reads are stricter than writes; only a
//!   project that exists and is active is readable, an unknown or archived
//!   slug is a 403). A pending slug (data sent, project not created) is unknown: 403 until
//!   created. A project-scoped key reads only its project.
//! - Isolation: every read is bound to the caller's org and the one project.
//! - Event views are finalized-only (docs/CONTRACT.md §C11): events are what `events_view` holds
//!   (a partial event only once a patch finalized it), read with the (org,
//!   project) predicates on the tables, not through the views, because on
//!   ClickHouse 18.16 the views' `FINAL` merges equal ids across orgs and
//!   projects (`store` explains).
//! - Values never become SQL: every filter, cursor and scope is bound with
//!   `.bind()`; table names are constants (`sql`, `store`). Bad input is a 400,
//!   never a panic or a 5xx.

mod access;
mod conditions;
mod events;
pub mod filter;
mod params;
mod slots;
mod sql;
mod store;

pub use slots::OrgSlots;

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::auth::Authenticates;
use crate::registry::keys::KeyStore;
use crate::registry::projects::ProjectStore;
use access::Scope;
use filter::Filters;
use params::{MAX_ID_BYTES, Params};

/// What the Query API handlers share.
pub struct QueryState {
    /// Authentication.
    pub keys: KeyStore,
    /// The registry: which projects exist and are active.
    pub projects: ProjectStore,
    /// downpour's database.
    pub db: clickhouse::Client,
    /// Queries running per org (`query.max_concurrent_per_org`).
    pub slots: OrgSlots,
}

impl Authenticates for QueryState {
    fn key_store(&self) -> &KeyStore {
        &self.keys
    }
}

type Shared = State<Arc<QueryState>>;
type Answer<T = Value> = Result<Json<T>, ApiError>;

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The rows, newest first.
    pub data: Vec<Value>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What a single-object route looks up.
#[derive(Debug, Clone, Copy)]
enum Entity {
    Event,
    User,
}

impl Entity {
    fn param(self) -> &'static str {
        match self {
            Entity::Event => "event_id",
            Entity::User => "user_id",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Entity::Event => "event",
            Entity::User => "user",
        }
    }
}

/// The Query API routes.
pub fn router(state: Arc<QueryState>) -> Router {
    let mut router = Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/count", get(count_events))
        .route("/v1/events/{event_id}", get(show_event))
        .route("/v1/signals", get(list_signals))
        .route("/v1/users/{user_id}", get(show_user));
    // The ingest routes are static paths under the same prefixes; a GET of
    // an id spelled like one would match them (POST only, 405), so these
    // ids get their own GET route.
    for (entity, id) in [
        (Entity::Event, "track"),
        (Entity::Event, "track_partial"),
        (Entity::User, "identify"),
    ] {
        let prefix = match entity {
            Entity::Event => "events",
            Entity::User => "users",
        };
        router = router.route(
            &format!("/v1/{prefix}/{id}"),
            get(move |State(state): Shared, scope: Scope| async move {
                by_id(&state, &scope, entity, id.to_string()).await
            }),
        );
    }
    router
        .layer(axum::middleware::map_response(
            crate::http::error::query_body,
        ))
        .with_state(state)
}

/// A path id; an undecodable one is a 400 naming it.
fn path_id(path: Result<Path<String>, PathRejection>, what: &str) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request(what, "is not valid UTF-8 percent-encoding"))
}

async fn list_events(State(state): Shared, scope: Scope, uri: Uri) -> Answer {
    let f = Filters::parse(uri.query(), &events::list_params())?;
    Ok(Json(events::list(&state.db, &scope, &f).await?))
}

async fn count_events(State(state): Shared, scope: Scope, uri: Uri) -> Answer {
    let f = Filters::parse(uri.query(), &events::count_params())?;
    Ok(Json(events::count(&state.db, &scope, &f).await?))
}

async fn list_signals(State(state): Shared, scope: Scope, uri: Uri) -> Answer<Page> {
    let p = Params::parse(uri.query(), &["event_id", "signal_name", "limit", "cursor"])?;
    let filter = store::SignalFilter {
        event_id: p.text("event_id")?,
        signal_name: p.text("signal_name")?,
    };
    let page = store::signals(&state.db, &scope, &filter, p.cursor()?, p.limit()?).await?;
    Ok(Json(page))
}

async fn show_event(
    State(state): Shared,
    scope: Scope,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_id(path, Entity::Event.param())?;
    by_id(&state, &scope, Entity::Event, id).await
}

async fn show_user(
    State(state): Shared,
    scope: Scope,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_id(path, Entity::User.param())?;
    by_id(&state, &scope, Entity::User, id).await
}

/// One event or user: `{"data": {...}}`, or a 404 naming the id.
async fn by_id(state: &QueryState, scope: &Scope, entity: Entity, id: String) -> Answer {
    let found = if id.len() > MAX_ID_BYTES {
        None
    } else {
        match entity {
            Entity::Event => events::get(&state.db, scope, &id).await?,
            Entity::User => store::user(&state.db, scope, &id).await?,
        }
    };
    let data = found.ok_or_else(|| {
        let message = if id.len() <= 128 {
            format!("no {} {id:?} in this project", entity.noun())
        } else {
            format!("no such {} in this project", entity.noun())
        };
        ApiError::not_found(message).with_param(entity.param())
    })?;
    Ok(Json(json!({ "data": data })))
}
