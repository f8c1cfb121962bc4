//! The ingest handler: one request from headers to 204.
//!
//! A request from a browser (it carries `Origin`) to a stream whose items
//! have event ids (events, partial events) is answered 200 with
//! `{"events":[{"event_id": ...}]}` in item order instead: the browser SDK
//! reads the ids it gave or the edge assigned from that body. Everyone else
//! gets the documented 204 with no body. An OTLP export (`/v1/traces`) is
//! read and answered as OTLP/HTTP prescribes (`src/edge/otlp/`), through the
//! same steps.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::budget::{CHUNK_BYTES, Reservation};
use super::openapi::{EventId, EventIds};
use super::otlp;
use super::project::project_of;
use super::rate_limit::RateInfo;
use super::validate::{self, Envelope, Redaction};
use super::{EdgeState, Route};
use crate::http::{ApiError, Source};
use crate::pipeline::StreamKind;
use crate::registry::admission::{Admitted, Verdict};
use crate::registry::keys::Principal;
use crate::registry::slug::Slug;
use crate::telemetry::catalogue::Counter;

/// Handles one ingest request.
pub async fn handle(state: Arc<EdgeState>, route: Arc<Route>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (headers, source) = (parts.headers, Source::of(&parts.extensions));
    let started = std::time::Instant::now();
    let stream = route.kind.name();
    let mut rate = None;
    let body_kind = match route.kind {
        StreamKind::Spans => BodyKind::Otlp,
        StreamKind::Events | StreamKind::PartialEvents if headers.contains_key(header::ORIGIN) => {
            BodyKind::Items { want_ids: true }
        }
        _ => BodyKind::Items { want_ids: false },
    };
    let result = match state.in_flight.try_acquire() {
        Ok(_permit) => {
            let request = Incoming {
                headers: &headers,
                source,
                body_kind,
            };
            process(&state, &route, request, body, &mut rate).await
        }
        Err(_) => Err(ApiError::unavailable("too many requests in flight")),
    };
    route
        .metrics
        .seconds
        .record(started.elapsed().as_secs_f64());
    let mut response = match result {
        Ok(accepted) => {
            route.metrics.accepted.increment(1);
            route.metrics.items.increment(accepted.items as u64);
            match accepted.answer {
                Answer::NoContent => StatusCode::NO_CONTENT.into_response(),
                Answer::Ids(ids) => ids_answer(&ids),
                Answer::Otlp(format, rejected) => otlp::answer(format, &rejected),
            }
        }
        Err(e) => {
            Counter::edge_requests(stream, e.status.as_str().to_owned()).increment(1);
            e.into_response()
        }
    };
    if let Some(info) = rate {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", info.limit.into());
        headers.insert("x-ratelimit-remaining", info.remaining.into());
        headers.insert("x-ratelimit-reset", info.reset.into());
    }
    response
}

/// What the handler knows of a request before its body.
struct Incoming<'a> {
    headers: &'a HeaderMap,
    source: Option<IpAddr>,
    body_kind: BodyKind,
}

/// How the body is read.
#[derive(Clone, Copy)]
enum BodyKind {
    /// Raindrop's JSON items; answer with their event ids (a browser caller).
    Items { want_ids: bool },
    /// An OTLP export.
    Otlp,
}

/// An accepted request.
struct Accepted {
    items: usize,
    answer: Answer,
}

/// What an accepted request is answered with.
enum Answer {
    /// The documented 204.
    NoContent,
    /// 200 with the event ids in item order (a browser caller).
    Ids(Vec<String>),
    /// 200 with an `ExportTraceServiceResponse`.
    Otlp(otlp::Format, otlp::Rejected),
}

/// `{"events":[{"event_id": ...}, ...]}` ([`EventIds`]), 200.
fn ids_answer(ids: &[String]) -> Response {
    let events = ids.iter().map(|id| EventId { event_id: id }).collect();
    (StatusCode::OK, axum::Json(EventIds { events })).into_response()
}

async fn process(
    state: &EdgeState,
    route: &Route,
    request: Incoming<'_>,
    body: Body,
    rate: &mut Option<RateInfo>,
) -> Result<Accepted, ApiError> {
    let Incoming {
        headers,
        source,
        body_kind,
    } = request;
    let principal = state
        .keys
        .authenticate(
            headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
            source,
        )
        .await?;
    let project = project_of(headers, &principal)?;
    let wire = match body_kind {
        BodyKind::Items { .. } => {
            check_content_type(headers)?;
            None
        }
        BodyKind::Otlp => Some(otlp::Wire::of(headers)?),
    };
    // The body's memory is reserved before it is read: under a stalled broker
    // waiting requests pile up, and this keeps what they hold bounded. A
    // declared length is reserved whole; a chunked body as it arrives.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.min(state.max_body_bytes));
    let first = declared.unwrap_or(CHUNK_BYTES.min(state.max_body_bytes));
    let Some(mut reserved) = state.body_budget.reserve(&principal.org, first) else {
        return Err(budget_spent());
    };
    let mut bytes = read_body(
        body,
        state.max_body_bytes,
        state.body_timeout,
        &mut reserved,
    )
    .await?;
    // The project's redaction runs while the body is encoded: nothing it
    // would redact reaches the producer (docs/CONTRACT.md §C23).
    let protection = state
        .admission
        .protection(&principal.org, &project)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "project check failed");
            ApiError::unavailable("project registry unavailable, retry shortly")
        })?;
    let redactor = state
        .redactors
        .get(&principal.org, &protection.policy)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "redaction policy unavailable");
            ApiError::unavailable("redaction policies unavailable, retry shortly")
        })?;
    let received_us = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
    let envelope = Envelope {
        redaction: Some(Redaction {
            redactor: &redactor,
            all_messages: protection.all_messages,
        }),
        retention: protection.retention,
        org: &principal.org,
        project: project.as_str(),
        received_us,
    };
    let (encoded, answer) = match (body_kind, wire) {
        (BodyKind::Otlp, Some(wire)) => {
            let limit = state.max_body_bytes;
            let (encoded, rejected) = otlp::encode(
                wire,
                bytes,
                limit,
                &mut reserved,
                &state.decode_budget,
                &route.limits,
                &envelope,
            )?;
            (encoded, Answer::Otlp(wire.format, rejected))
        }
        (BodyKind::Items { want_ids: true }, _) => {
            let mut encoded =
                validate::encode_with_ids(route.kind, &route.limits, &mut bytes, &envelope)?;
            let ids = std::mem::take(&mut encoded.ids);
            (encoded, Answer::Ids(ids))
        }
        _ => (
            validate::encode(route.kind, &route.limits, &mut bytes, &envelope)?,
            Answer::NoContent,
        ),
    };
    if encoded.truncated > 0 {
        Counter::edge_truncated_items().increment(encoded.truncated as u64);
    }
    if encoded.records.is_empty() {
        // An OTLP export with no span to store (empty, or every span
        // rejected): answered, and nothing recorded, not even a pending slug.
        return Ok(Accepted { items: 0, answer });
    }
    // The project check comes after validation: a request refused for its
    // body must not take one of the org's pending-slug slots.
    let admitted = admit(state, &principal, &project).await?;
    check_origin(headers, &admitted, &project)?;
    let key = format!("{}/{}", principal.org, project);
    // Counted when admitted, not when the body began to arrive.
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    if let Some(limit) = admitted.rate_limit_rpm {
        let info = state.rate_limiter.check(&key, limit, now);
        *rate = Some(info);
        if info.exceeded {
            let wait = u32::try_from(info.reset.saturating_sub(now).max(1)).unwrap_or(60);
            Counter::edge_rate_limited().increment(1);
            // The rate-limit answer: docs/CONTRACT.md §C16.
            return Err(ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_exceeded",
                    format!(
                        "Rate limit exceeded. Max {limit} requests per minute. Try again in {wait}s."
                    ),
                )
            });
        }
    }
    // A hot project's records spread over partitions (src/edge/hot.rs).
    let record_key = state.hot.route(&key, encoded.items as u64, now);
    match &state.spool {
        None => {
            state
                .producer
                .publish(&route.topic, record_key.as_bytes(), &encoded.records)
                .await?
        }
        Some(spool) => {
            spool
                .publish_or_spool(
                    &state.producer,
                    &route.topic,
                    record_key.as_bytes(),
                    &encoded.records,
                )
                .await?
        }
    }
    Ok(Accepted {
        items: encoded.items,
        answer,
    })
}

/// Applies the ingest table (docs/CONTRACT.md §C3): archived → 403, a new
/// slug beyond the org's pending limit → 403, otherwise accepted.
async fn admit(
    state: &EdgeState,
    principal: &Principal,
    project: &Slug,
) -> Result<Admitted, ApiError> {
    let message = match state.admission.admit(&principal.org, project).await {
        Ok(Verdict::Admitted(admitted)) => return Ok(admitted),
        Ok(Verdict::Archived) => format!("project {project} is archived and accepts no data"),
        Ok(Verdict::OverPendingLimit(limit)) => format!(
            "project {project} does not exist and the org already has {limit} projects with data not yet created \
             (its limit); create some of them first"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "project check failed");
            return Err(ApiError::unavailable(
                "project registry unavailable, retry shortly",
            ));
        }
    };
    Err(ApiError {
        param: Some("X-Raindrop-Project-Id".into()),
        ..ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
    })
}

/// A project with `allowed_origins` refuses pages on other origins (403).
/// Only browsers send `Origin`; a request without one is a server's.
fn check_origin(headers: &HeaderMap, admitted: &Admitted, project: &Slug) -> Result<(), ApiError> {
    match headers.get(header::ORIGIN) {
        Some(origin) if !admitted.allows_origin(origin.as_bytes()) => {
            Counter::edge_origin_refused().increment(1);
            Err(ApiError {
                param: Some("Origin".into()),
                ..ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    format!(
                        "project {project} does not accept data from pages on this origin \
                         (its settings.allowed_origins)"
                    ),
                )
            })
        }
        _ => Ok(()),
    }
}

/// Bodies are JSON; a missing Content-Type is tolerated, another one is a 415.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ok = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.eq_ignore_ascii_case("text/plain")
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::unsupported_media(
            "Content-Type",
            "application/json",
        ))
    }
}

pub(super) fn budget_spent() -> ApiError {
    Counter::edge_body_budget_exhausted().increment(1);
    ApiError::unavailable("the edge is holding too many request bodies; retry shortly")
}

/// Reads the whole body within `limit` bytes and `deadline` (slow bodies get
/// 408), growing `reserved` to what has arrived (503 when it cannot grow).
async fn read_body(
    body: Body,
    limit: usize,
    deadline: Duration,
    reserved: &mut Reservation<'_>,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body: larger than {limit} bytes"),
        )
        .with_param("body")
    };
    let collect = async {
        let mut body = Limited::new(body, limit);
        // Most bodies arrive as one frame: it is kept as it came (no copy)
        // unless a second one follows.
        let mut first: Option<bytes::Bytes> = None;
        let mut out: Vec<u8> = Vec::new();
        let mut len = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(too_large());
                }
                Err(e) => {
                    return Err(ApiError::bad_request(
                        "body",
                        &format!("could not be read ({e})"),
                    ));
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            len += data.len();
            if len > reserved.covers() && !reserved.grow_to(len) {
                return Err(budget_spent());
            }
            match first.take() {
                None if out.is_empty() => first = Some(data),
                held => {
                    if let Some(held) = held {
                        out.reserve(len.min(limit));
                        out.extend_from_slice(&held);
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
        // simd-json parses in place; a uniquely owned buffer converts without a copy.
        Ok(match first {
            Some(bytes) => match bytes.try_into_mut() {
                Ok(owned) => owned.into(),
                Err(shared) => shared.to_vec(),
            },
            None => out,
        })
    };
    match tokio::time::timeout(deadline, collect).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "body: not received in time",
        )),
    }
}
