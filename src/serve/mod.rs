//! The HTTP listener (the public one: ingest, admin, keys, query, health;
//! the operator one: health and metrics) and the limits every request on it
//! is held to.
//!
//! Invariants:
//! - at most `edge.max_connections` connections are served at once; further
//!   ones wait in the kernel's accept backlog until a slot frees up;
//! - one source address holds at most `edge.max_connections_per_source` of
//!   them; past it a connection is answered 429 + `Retry-After` and closed
//!   without taking a slot ([`per_source`]);
//! - every request carries its connection's [`Source`] address, for the
//!   per-source limits further in (unknown-key lookups);
//! - a connection that has not sent a whole request head within
//!   `edge.header_read_timeout_ms` is closed (idle keep-alive connections
//!   included), so a slow or silent client cannot keep a slot;
//! - a head over `edge.max_header_bytes`, or with more than
//!   `edge.max_headers` headers, is answered 431 by hyper;
//! - a request not answered within `edge.request_timeout_ms` gets a 408 and
//!   its handler is dropped, releasing whatever it held (its in-flight slot);
//! - `Authorization`, `X-Raindrop-Project-Id` or `Content-Type` given more
//!   than once is a 400 naming the header: the edge never silently picks one;
//! - a request with both `Content-Length` and `Transfer-Encoding` is read
//!   as chunked: hyper drops the length (RFC 9112 §6.1), and the body
//!   budget counts what a chunked body sends (`src/edge/budget.rs`). Should
//!   both ever reach a handler, it is a 400 and the connection is closed;
//! - shutdown stops accepting, lets requests in flight finish, closes idle
//!   connections, and only then returns.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

mod per_source;

use crate::config::EdgeConfig;
use crate::edge::project::PROJECT_HEADER;
use crate::http::{ApiError, Source};
use crate::telemetry::catalogue::{Counter, Gauge};
use per_source::PerSource;

/// hyper's own default header count; setting another moves headers to the heap.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;
/// A floor for `max_header_bytes`: below it ordinary clients would be refused.
const MIN_HEADER_BYTES: usize = 8192;

/// The listener's limits (the `edge` config section).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one source address may hold.
    pub max_connections_per_source: usize,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most headers per request.
    pub max_headers: usize,
    /// Deadline for a whole request head, idle keep-alive time included.
    pub header_read_timeout: Duration,
    /// Deadline for a whole request, from its head to its answer.
    pub request_timeout: Duration,
}

impl Limits {
    /// The limits configured in `edge`.
    pub fn from_config(edge: &EdgeConfig) -> Limits {
        Limits {
            max_connections: edge.max_connections.max(1),
            max_connections_per_source: edge.max_connections_per_source.max(1),
            max_header_bytes: edge.max_header_bytes.max(MIN_HEADER_BYTES),
            max_headers: edge.max_headers.max(1),
            header_read_timeout: Duration::from_millis(edge.header_read_timeout_ms.max(1)),
            request_timeout: Duration::from_millis(edge.request_timeout_ms.max(1)),
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then
/// drains: requests in flight finish, idle connections close.
pub async fn serve<F>(listener: TcpListener, app: Router, limits: Limits, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_source = Arc::new(PerSource::default());
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes);
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.max_headers(limits.max_headers);
    }
    let app = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let source = peer.ip();
        let Some(held) = per_source.take(source, limits.max_connections_per_source) else {
            drop(slot);
            Counter::edge_connections_refused().increment(1);
            tokio::spawn(per_source::refuse(stream));
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay");
        }
        let app = app.clone();
        let request_timeout = limits.request_timeout;
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(Source(source));
            handle(app.clone(), request, request_timeout)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = (slot, held);
            let connections = Gauge::edge_connections();
            connections.increment(1.0);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            connections.decrement(1.0);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One request: header sanity, then the router within the request deadline.
async fn handle(
    app: TowerToHyperService<Router>,
    request: Request<Incoming>,
    deadline: Duration,
) -> Result<Response, Infallible> {
    if let Some(name) = repeated_header(request.headers()) {
        return Ok(ApiError::bad_request(name, "given more than once").into_response());
    }
    if framed_twice(request.headers()) {
        // RFC 9112 §6.3: a server may refuse such a request, and must then
        // close the connection (its body's end is ambiguous).
        let mut answer =
            ApiError::bad_request("Transfer-Encoding", "must not be given with Content-Length")
                .into_response();
        answer.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return Ok(answer);
    }
    match tokio::time::timeout(deadline, app.call(request)).await {
        Ok(response) => response,
        Err(_) => {
            Counter::edge_request_timeouts().increment(1);
            Ok(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("request not completed within {} ms", deadline.as_millis()),
            )
            .into_response())
        }
    }
}

/// A request that gives both `Content-Length` and `Transfer-Encoding`: its
/// length would be read one way by the budget and another by the parser.
fn framed_twice(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) && headers.contains_key(header::TRANSFER_ENCODING)
}

/// The first single-valued header that appears more than once, by its
/// display name.
fn repeated_header(headers: &HeaderMap) -> Option<&'static str> {
    [
        (header::AUTHORIZATION.as_str(), "Authorization"),
        (PROJECT_HEADER, "X-Raindrop-Project-Id"),
        (header::CONTENT_TYPE.as_str(), "Content-Type"),
    ]
    .into_iter()
    .find(|(name, _)| headers.get_all(*name).iter().nth(1).is_some())
    .map(|(_, shown)| shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_single_valued_headers_are_named() {
        let mut headers = HeaderMap::new();
        headers.append("x-raindrop-project-id", "a".parse().expect("value"));
        headers.append("accept", "a".parse().expect("value"));
        headers.append("accept", "b".parse().expect("value"));
        assert_eq!(repeated_header(&headers), None, "Accept may repeat");
        headers.append("x-raindrop-project-id", "b".parse().expect("value"));
        assert_eq!(repeated_header(&headers), Some("X-Raindrop-Project-Id"));
        headers.append("authorization", "Bearer x".parse().expect("value"));
        headers.append("authorization", "Bearer x".parse().expect("value"));
        assert_eq!(repeated_header(&headers), Some("Authorization"));
    }

    #[test]
    fn limits_are_clamped_to_what_hyper_accepts() {
        let mut edge = crate::config::Config::default().edge;
        edge.max_header_bytes = 10;
        edge.max_connections = 0;
        let limits = Limits::from_config(&edge);
        assert_eq!(limits.max_header_bytes, MIN_HEADER_BYTES);
        assert_eq!(limits.max_connections, 1);
    }
}
