//! The Query API: reading back what was ingested, one project at a time.
//!
//! | route | filters (query string) |
//! | `GET /v1/events` | `event`, `user_id`, `convo_id`, `since`, `until`, `limit`, `cursor` |
//! | `GET /v1/events/{event_id}` | |
//! | `GET /v1/signals` | `event_id`, `signal_name`, `limit`, `cursor` |
//! | `GET /v1/users/{user_id}` | |
//!
//! Lists answer `{"data": [...], "next_cursor": "..." | null}`, newest first
//! by (timestamp_ms, id); pass `next_cursor` back as `cursor` for the next
//! page. `limit` is 1 to 1000 (default 100). `since` (inclusive) and `until`
//! (exclusive) are epoch milliseconds or ISO 8601 with a zone. Filters match
//! exactly. Single objects answer `{"data": {...}}`; an unknown event or user
//! is a 404. Errors are the edge's JSON error body, naming the parameter.
//!
//! Invariants:
//! - Who: owner, admin and member keys read; SDK write keys get 403 (control
//!   plane: "Member can send and read only").
//! - Which project: `X-Raindrop-Project-Id`, parsed as ingest parses it, but
//!   stricter, as raindrop-projects.md says: "Reads are stricter than writes:
//!   the dashboard and Query API only return data for a project that exists
//!   and is active, so an unknown or archived slug returns a 403 on read."
//!   A pending slug (data sent, project not created) is unknown: 403 until
//!   created. A project-scoped key reads only its project.
//! - Isolation: every read is bound to the caller's org and the one project.
//! - "Event views are finalized-only": events are what `events_view` holds
//!   (a partial event only once a patch finalized it), read with the (org,
//!   project) predicates on the tables, not through the views, because on
//!   ClickHouse 18.16 the views' `FINAL` merges equal ids across orgs and
//!   projects (`store` explains).
//! - Values never become SQL: every filter, cursor and scope is bound with
//!   `.bind()`; table names are constants (`sql`, `store`). Bad input is a 400,
//!   never a panic or a 5xx.

mod access;
mod params;
mod sql;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::edge::error::ApiError;
use crate::registry::keys::KeyStore;
use crate::registry::projects::ProjectStore;
use access::Scope;
use params::{MAX_ID_BYTES, Params};

/// What the Query API handlers share.
pub struct QueryState {
    /// Authentication.
    pub keys: KeyStore,
    /// The registry: which projects exist and are active.
    pub projects: ProjectStore,
    /// downpour's database.
    pub db: clickhouse::Client,
}

type Shared = State<Arc<QueryState>>;

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The rows, newest first.
    pub data: Vec<serde_json::Value>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The Query API routes.
pub fn router(state: Arc<QueryState>) -> Router {
    let mut router = Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{event_id}", get(show_event))
        .route("/v1/signals", get(list_signals))
        .route("/v1/users/{user_id}", get(show_user));
    // The ingest routes are static paths under the same prefixes; a GET of
    // an id spelled like one would match them (POST only, 405), so these
    // ids get their own GET route.
    for id in ["track", "track_partial"] {
        router = router.route(
            &format!("/v1/events/{id}"),
            get(move |state: Shared, headers: HeaderMap| {
                event_by_id(state, headers, Ok(id.to_string()))
            }),
        );
    }
    router
        .route(
            "/v1/users/identify",
            get(|state: Shared, headers: HeaderMap| {
                user_by_id(state, headers, Ok("identify".to_string()))
            }),
        )
        .with_state(state)
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// 404 naming `param`; short ids are quoted in the message.
fn not_found(param: &str, noun: &str, id: &str) -> ApiError {
    let message = if id.len() <= 128 {
        format!("no {noun} {id:?} in this project")
    } else {
        format!("no such {noun} in this project")
    };
    ApiError {
        param: Some(param.to_string()),
        ..ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

/// A path id; an undecodable one is a 400 naming it.
fn path_id(path: Result<Path<String>, PathRejection>, what: &str) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request(what, "is not valid UTF-8 percent-encoding"))
}

async fn list_events(State(state): Shared, headers: HeaderMap, uri: Uri) -> Response {
    respond(
        async {
            let scope = access::scope(&state, &headers).await?;
            let p = Params::parse(
                uri.query(),
                &[
                    "event", "user_id", "convo_id", "since", "until", "limit", "cursor",
                ],
            )?;
            let filter = store::EventFilter {
                event: p.text("event")?,
                user_id: p.text("user_id")?,
                convo_id: p.text("convo_id")?,
                since: p.time("since")?,
                until: p.time("until")?,
            };
            if let (Some(since), Some(until)) = (filter.since, filter.until)
                && until < since
            {
                return Err(ApiError::bad_request("until", "is before since"));
            }
            let page = store::events(&state.db, &scope, &filter, p.cursor()?, p.limit()?).await?;
            Ok(json(StatusCode::OK, &page))
        }
        .await,
    )
}

async fn show_event(
    state: Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    event_by_id(state, headers, path_id(path, "event_id")).await
}

async fn event_by_id(
    State(state): Shared,
    headers: HeaderMap,
    id: Result<String, ApiError>,
) -> Response {
    respond(
        async {
            let scope = access::scope(&state, &headers).await?;
            let id = id?;
            let found = if id.len() > MAX_ID_BYTES {
                None
            } else {
                store::event(&state.db, &scope, &id).await?
            };
            let event = found.ok_or_else(|| not_found("event_id", "event", &id))?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "data": event })))
        }
        .await,
    )
}

async fn list_signals(State(state): Shared, headers: HeaderMap, uri: Uri) -> Response {
    respond(
        async {
            let scope = access::scope(&state, &headers).await?;
            let p = Params::parse(uri.query(), &["event_id", "signal_name", "limit", "cursor"])?;
            let filter = store::SignalFilter {
                event_id: p.text("event_id")?,
                signal_name: p.text("signal_name")?,
            };
            let page = store::signals(&state.db, &scope, &filter, p.cursor()?, p.limit()?).await?;
            Ok(json(StatusCode::OK, &page))
        }
        .await,
    )
}

async fn show_user(
    state: Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    user_by_id(state, headers, path_id(path, "user_id")).await
}

async fn user_by_id(
    State(state): Shared,
    headers: HeaderMap,
    id: Result<String, ApiError>,
) -> Response {
    respond(
        async {
            let scope = access::scope(&state, &headers).await?;
            let id = id?;
            let found = if id.len() > MAX_ID_BYTES {
                None
            } else {
                store::user(&state.db, &scope, &id).await?
            };
            let user = found.ok_or_else(|| not_found("user_id", "user", &id))?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "data": user })))
        }
        .await,
    )
}
