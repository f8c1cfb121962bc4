//! The Query API: reading back what was ingested, one project at a time,
//! in the Raindrop Query API's routes and shapes so the official client
//! (`@raindrop-ai/query` 0.1.13; its zod schemas are the contract) works
//! unmodified:
//!
//! | route | module |
//! | --- | --- |
//! | `GET /v1/events`, `/count`, `/{id}` | `events` (filters: `filter`, `conditions`) |
//! | `GET /v1/events/search` | `search` |
//! | `GET /v1/events/timeseries`, `/facets` | `aggregate` |
//! | `GET /v1/signals`, `/{id}`, `/v1/signal-groups`, `/{id}`, `/{id}/signals` | `signals` |
//! | `GET /v1/users`, `/{id}` | `users` |
//! | `GET /v1/conversations`, `/{id}` | `conversations` |
//! | `GET /v1/traces?event_id=` | `traces` |
//!
//! Lists page alike (`list`): `{data, meta: {cursor, has_more}}`. Errors
//! answer the SDK's body (`crate::http::error::query_body`, a layer on this
//! router): `{"error": {"code", "message", "details": {"field",
//! "allowed_fields"}}}`; an unknown id is a 404.
//!
//! Invariants:
//! - Who: owner, admin and member keys read; SDK write keys get 403
//!   (docs/CONTRACT.md §C14).
//! - Which project: `X-Raindrop-Project-Id`, parsed as ingest parses it, but
//!   stricter (docs/CONTRACT.md §C19: reads are stricter than writes; only a
//!   project that exists and is active is readable, an unknown or archived
//!   slug is a 403). A pending slug (data sent, project not created) is unknown: 403 until
//!   created. A project-scoped key reads only its project.
//! - Isolation: every read is bound to the caller's org and the one project,
//!   in each table it reads (`Select::new`, or the `org = ? AND project = ?`
//!   of each module's constant SQL), never through the `*_view` views: on
//!   ClickHouse 18.16 a `WHERE` outside a view is not pushed into its
//!   `FINAL`, which then merges rows of every partition by the sorting key
//!   alone, so the same id in two orgs collapsed to one row (checked on
//!   18.16.1).
//! - Exactly once: lists of events read `FINAL` (plus `partial_events_final`:
//!   a partial event only once finalized, docs/CONTRACT.md §C11); aggregates
//!   use functions a redelivered row cannot change (`uniqExact`, min, max).
//! - Values never become SQL: every filter, cursor and scope is bound with
//!   `.bind()`; table and column names are constants (`sql`). Bad input is a
//!   400, never a panic or a 5xx.

mod access;
mod aggregate;
mod conditions;
mod conversations;
mod events;
pub mod filter;
mod list;
mod params;
mod search;
mod signals;
mod slots;
mod sql;
mod traces;
mod users;

pub use slots::OrgSlots;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::auth::Authenticates;
use crate::registry::keys::KeyStore;
use crate::registry::projects::ProjectStore;
use access::Scope;
use filter::{Filters, Shape};
use params::MAX_ID_BYTES;

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
type Answer = Result<Json<Value>, ApiError>;
type Handled<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send + 'a>>;

/// The Query API routes.
pub fn router(state: Arc<QueryState>) -> Router {
    let mut router = Router::new()
        .route(
            "/v1/events",
            filtered(events::list_params, |s, scope, f| {
                Box::pin(async move { events::list(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/events/count",
            filtered(events::count_params, |s, scope, f| {
                Box::pin(async move { events::count(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/events/search",
            filtered(search::params, |s, scope, f| {
                Box::pin(async move { search::search(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/events/timeseries",
            filtered(aggregate::timeseries_params, |s, scope, f| {
                Box::pin(async move { aggregate::timeseries(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/events/facets",
            filtered(aggregate::facets_params, |s, scope, f| {
                Box::pin(async move { aggregate::facets(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/signals",
            filtered(list::params_only, |s, scope, f| {
                Box::pin(async move { signals::list(&s.db, scope, f, None).await })
            }),
        )
        .route(
            "/v1/signal-groups",
            filtered(list::params_only, |s, scope, f| {
                Box::pin(async move { signals::list_groups(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/signal-groups/{id}/signals",
            get(
                |State(s): Shared,
                 scope: Scope,
                 uri: Uri,
                 path: Result<Path<String>, PathRejection>| async move {
                    let id = path_id(path)?;
                    let f = Filters::parse(uri.query(), list::PARAMS)?;
                    Ok::<_, ApiError>(Json(signals::list(&s.db, &scope, &f, Some(&id)).await?))
                },
            ),
        )
        .route(
            "/v1/users",
            filtered(users::params, |s, scope, f| {
                Box::pin(async move { users::list(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/conversations",
            filtered(conversations::params, |s, scope, f| {
                Box::pin(async move { conversations::list(&s.db, scope, f).await })
            }),
        )
        .route(
            "/v1/traces",
            filtered(traces::params, |s, scope, f| {
                Box::pin(async move { traces::list(&s.db, scope, f).await })
            }),
        );
    for (path, entity) in [
        ("/v1/events/{id}", Entity::Event),
        ("/v1/signals/{id}", Entity::Signal),
        ("/v1/signal-groups/{id}", Entity::SignalGroup),
        ("/v1/users/{id}", Entity::User),
        ("/v1/conversations/{id}", Entity::Conversation),
    ] {
        router =
            router.route(
                path,
                get(
                    move |State(s): Shared,
                          scope: Scope,
                          path: Result<Path<String>, PathRejection>| async move {
                        by_id(&s, &scope, entity, path_id(path)?).await
                    },
                ),
            );
    }
    // The ingest routes are static paths under the same prefixes; a GET of
    // an id spelled like one would match them (POST only, 405), so these
    // ids get their own GET route.
    for (path, entity, id) in [
        ("/v1/events/track", Entity::Event, "track"),
        ("/v1/events/track_partial", Entity::Event, "track_partial"),
        ("/v1/signals/track", Entity::Signal, "track"),
        ("/v1/users/identify", Entity::User, "identify"),
    ] {
        router = router.route(
            path,
            get(move |State(s): Shared, scope: Scope| async move {
                by_id(&s, &scope, entity, id.to_string()).await
            }),
        );
    }
    router
        .layer(axum::middleware::map_response(
            crate::http::error::query_body,
        ))
        .with_state(state)
}

/// A GET route whose query string is checked against `params` before `op`
/// runs.
fn filtered(
    params: fn() -> Vec<(&'static str, Shape)>,
    op: for<'a> fn(&'a QueryState, &'a Scope, &'a Filters) -> Handled<'a>,
) -> MethodRouter<Arc<QueryState>> {
    get(move |State(s): Shared, scope: Scope, uri: Uri| async move {
        let f = Filters::parse(uri.query(), &params())?;
        Ok::<_, ApiError>(Json(op(&s, &scope, &f).await?))
    })
}

/// What a single-object route looks up.
#[derive(Debug, Clone, Copy)]
enum Entity {
    Event,
    Signal,
    SignalGroup,
    User,
    Conversation,
}

impl Entity {
    fn noun(self) -> &'static str {
        match self {
            Entity::Event => "event",
            Entity::Signal => "signal",
            Entity::SignalGroup => "signal group",
            Entity::User => "user",
            Entity::Conversation => "conversation",
        }
    }
}

/// A path id; an undecodable one is a 400 naming it.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request("id", "is not valid UTF-8 percent-encoding"))
}

/// One object: `{"data": {...}}`, or a 404 naming the id.
async fn by_id(state: &QueryState, scope: &Scope, entity: Entity, id: String) -> Answer {
    if id.len() > MAX_ID_BYTES {
        return Err(not_found(entity.noun(), &id));
    }
    let db = &state.db;
    let found = match entity {
        Entity::Event => events::get(db, scope, &id).await?,
        Entity::User => users::get(db, scope, &id).await?,
        Entity::Signal => signals::get(db, scope, &id).await?,
        Entity::SignalGroup => signals::get_group(db, scope, &id).await?,
        Entity::Conversation => conversations::get(db, scope, &id).await?,
    };
    let data = found.ok_or_else(|| not_found(entity.noun(), &id))?;
    Ok(Json(json!({ "data": data })))
}

/// A 404 naming what was looked up (the id itself only when short).
fn not_found(noun: &str, id: &str) -> ApiError {
    let message = if id.len() <= 128 {
        format!("no {noun} {id:?} in this project")
    } else {
        format!("no such {noun} in this project")
    };
    ApiError::not_found(message).with_param("id")
}
