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
mod window;

pub use slots::OrgSlots;

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::auth::Authenticates;
use crate::http::openapi;
use crate::registry::keys::KeyStore;
use crate::registry::projects::ProjectStore;
use access::Scope;
use aggregate::{Facets, Timeseries};
use conversations::Conversation;
use events::{Count, Event};
use filter::{Filters, Shape};
use list::Page;
use params::MAX_ID_BYTES;
use signals::{Signal, SignalGroup};
use traces::Spans;
use users::User;

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
type Answer<T> = Result<Json<T>, ApiError>;
type IdPath = Result<Path<String>, PathRejection>;

/// One object: the SDK's `{data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct One<T: ToSchema> {
    /// The object.
    pub data: T,
}

/// A route's parameters: (name, shape) pairs.
type ParamsOf = fn() -> Vec<(&'static str, Shape)>;

/// The query parameters of every route that takes some: the lists the
/// handlers parse with, and the source of the OpenAPI document's
/// parameters (`openapi_parameters`), so the two cannot disagree.
const PARAMETERS: &[(&str, ParamsOf)] = &[
    ("/v1/events", events::list_params),
    ("/v1/events/count", events::count_params),
    ("/v1/events/search", search::params),
    ("/v1/events/timeseries", aggregate::timeseries_params),
    ("/v1/events/facets", aggregate::facets_params),
    ("/v1/signals", list::params_only),
    ("/v1/signal-groups", list::params_only),
    ("/v1/signal-groups/{id}/signals", list::params_only),
    ("/v1/users", users::params),
    ("/v1/conversations", conversations::params),
    ("/v1/traces", traces::params),
];

/// The query string of a request to `path`, checked against its parameters.
fn filters(path: &str, uri: &Uri) -> Result<Filters, ApiError> {
    let params = PARAMETERS
        .iter()
        .find(|(p, _)| *p == path)
        .map_or_else(Vec::new, |(_, params)| params());
    Filters::parse(uri.query(), &params)
}

/// The Query API routes, documented.
pub fn router(state: Arc<QueryState>) -> OpenApiRouter {
    let router = OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(count_events))
        .routes(routes!(search_events))
        .routes(routes!(events_timeseries))
        .routes(routes!(events_facets))
        .routes(routes!(get_event))
        .routes(routes!(list_signals))
        .routes(routes!(get_signal))
        .routes(routes!(list_signal_groups))
        .routes(routes!(get_signal_group))
        .routes(routes!(list_group_signals))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(list_traces));
    // The ingest routes are static paths under the same prefixes; a GET of
    // an id spelled like one would match them (POST only, 405), so these
    // ids get their own GET route: instances of the documented `{id}`
    // routes, not routes of their own.
    let router = router
        .route(
            "/v1/events/track",
            get(|st: Shared, scope: Scope| get_event(st, scope, fixed("track"))),
        )
        .route(
            "/v1/events/track_partial",
            get(|st: Shared, scope: Scope| get_event(st, scope, fixed("track_partial"))),
        )
        .route(
            "/v1/signals/track",
            get(|st: Shared, scope: Scope| get_signal(st, scope, fixed("track"))),
        )
        .route(
            "/v1/users/identify",
            get(|st: Shared, scope: Scope| get_user(st, scope, fixed("identify"))),
        );
    let mut router = router
        .layer(axum::middleware::map_response(
            crate::http::error::query_body,
        ))
        .with_state(state);
    openapi_parameters(router.get_openapi_mut());
    router
}

/// Adds to the document what every Query API operation shares: its query
/// parameters (from [`PARAMETERS`]), `X-Raindrop-Project-Id`, and the
/// SDK's error body for 400, 401, 403, 404 (routes with an id), 429 and
/// 503.
fn openapi_parameters(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(op) = item.get.as_mut() else {
            continue;
        };
        let by_id = path.contains('{');
        let mut parameters = vec![openapi::project_header()];
        if by_id {
            parameters.push(openapi::path_parameter(
                "id",
                "The id (a name, for signals and groups).",
            ));
        }
        if let Some((_, params)) = PARAMETERS.iter().find(|(p, _)| p == path) {
            for (name, shape) in params() {
                let (schema, deep) = shape.schema(name);
                parameters.push(openapi::query_parameter(name, schema, deep));
            }
        }
        op.parameters = Some(
            parameters
                .into_iter()
                .flatten()
                .map(utoipa::openapi::RefOr::T)
                .collect(),
        );
        let statuses: &[u16] = if by_id {
            &[400, 401, 403, 404, 429, 503]
        } else {
            &[400, 401, 403, 429, 503]
        };
        openapi::query_errors(op, statuses);
    }
}

macro_rules! list_route {
    ($name:ident, $path:literal, $answer:ty, $summary:literal, $run:expr) => {
        #[doc = $summary]
        #[utoipa::path(get, path = $path, tag = "query", summary = $summary,
                            responses((status = 200, description = "The page.", body = $answer)))]
        async fn $name(State(s): Shared, scope: Scope, uri: Uri) -> Answer<$answer> {
            let f = filters($path, &uri)?;
            let run = $run;
            Ok(Json(run(&s.db, &scope, &f).await?))
        }
    };
}

list_route!(
    list_events,
    "/v1/events",
    Page<Event>,
    "Events, newest first, filtered.",
    events::list
);
list_route!(
    count_events,
    "/v1/events/count",
    Count,
    "How many events (or users, conversations) match.",
    events::count
);
list_route!(
    search_events,
    "/v1/events/search",
    Page<Event>,
    "Events whose AI input or output holds a text or matches a pattern.",
    search::search
);
list_route!(
    events_timeseries,
    "/v1/events/timeseries",
    Timeseries,
    "Events per minute, hour, day, week or month.",
    aggregate::timeseries
);
list_route!(
    events_facets,
    "/v1/events/facets",
    Facets,
    "The most frequent event names, users or signals.",
    aggregate::facets
);
list_route!(
    list_users,
    "/v1/users",
    Page<User>,
    "Users seen in events or identifies.",
    users::list
);
list_route!(
    list_conversations,
    "/v1/conversations",
    Page<Conversation>,
    "Conversations, by their last message.",
    conversations::list
);
list_route!(
    list_traces,
    "/v1/traces",
    Spans,
    "The spans of one event's traces.",
    traces::list
);

/// Signals (one per signal name).
#[utoipa::path(get, path = "/v1/signals", tag = "query", summary = "Signals: one per signal name.",
    responses((status = 200, description = "The page.", body = Page<Signal>)))]
async fn list_signals(State(s): Shared, scope: Scope, uri: Uri) -> Answer<Page<Signal>> {
    let f = filters("/v1/signals", &uri)?;
    Ok(Json(signals::list(&s.db, &scope, &f, None).await?))
}

/// Signal groups (one per signal type).
#[utoipa::path(get, path = "/v1/signal-groups", tag = "query", summary = "Signal groups: one per signal type.",
    responses((status = 200, description = "The page.", body = Page<SignalGroup>)))]
async fn list_signal_groups(State(s): Shared, scope: Scope, uri: Uri) -> Answer<Page<SignalGroup>> {
    let f = filters("/v1/signal-groups", &uri)?;
    Ok(Json(signals::list_groups(&s.db, &scope, &f).await?))
}

/// The signals of one group.
#[utoipa::path(get, path = "/v1/signal-groups/{id}/signals", tag = "query", summary = "The signals of one group.",
    responses((status = 200, description = "The page.", body = Page<Signal>)))]
async fn list_group_signals(
    State(s): Shared,
    scope: Scope,
    uri: Uri,
    path: IdPath,
) -> Answer<Page<Signal>> {
    let id = path_id(path)?;
    let f = filters("/v1/signal-groups/{id}/signals", &uri)?;
    Ok(Json(signals::list(&s.db, &scope, &f, Some(&id)).await?))
}

macro_rules! get_route {
    ($name:ident, $path:literal, $item:ty, $noun:literal, $get:path, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(get, path = $path, tag = "query", summary = $summary,
                            responses((status = 200, description = "Found.", body = One<$item>)))]
        async fn $name(State(s): Shared, scope: Scope, path: IdPath) -> Answer<One<$item>> {
            let id = path_id(path)?;
            let found = if id.len() > MAX_ID_BYTES {
                None
            } else {
                $get(&s.db, &scope, &id).await?
            };
            found
                .map(|data| Json(One { data }))
                .ok_or_else(|| not_found($noun, &id))
        }
    };
}

get_route!(
    get_event,
    "/v1/events/{id}",
    Event,
    "event",
    events::get,
    "One event, with its signals."
);
get_route!(
    get_signal,
    "/v1/signals/{id}",
    Signal,
    "signal",
    signals::get,
    "One signal, by name."
);
get_route!(
    get_signal_group,
    "/v1/signal-groups/{id}",
    SignalGroup,
    "signal group",
    signals::get_group,
    "One signal group, by signal type."
);
get_route!(
    get_user,
    "/v1/users/{id}",
    User,
    "user",
    users::get,
    "One user."
);
get_route!(
    get_conversation,
    "/v1/conversations/{id}",
    Conversation,
    "conversation",
    conversations::get,
    "One conversation."
);

/// A path id; an undecodable one is a 400 naming it.
fn path_id(path: IdPath) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request("id", "is not valid UTF-8 percent-encoding"))
}

/// The id `id` as a path would carry it (the ingest routes' GET aliases).
fn fixed(id: &str) -> IdPath {
    Ok(Path(id.to_string()))
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
