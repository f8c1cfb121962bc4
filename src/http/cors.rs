//! CORS for the ingest routes: browser SDKs (`@raindrop-ai/browser-sdk`)
//! call the edge from pages on other origins, with `Authorization` and a
//! JSON body, so every call is preceded by a preflight.
//!
//! Invariants: any origin may call (a browser key is public by nature; it
//! only writes, and its org's quotas bound it); no credentials (cookies) are
//! ever allowed, since authentication is the bearer key; the answer headers a
//! client acts on (`Retry-After`, the rate-limit headers) are exposed to
//! scripts. A preflight is answered here, before any route or key check.

use std::time::Duration;

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight's answer (Chrome caps it at 2 h).
const MAX_AGE: Duration = Duration::from_secs(600);

/// The layer the ingest routes are wrapped in.
pub fn ingest() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::POST, Method::OPTIONS])
        // Whatever the page asks for (Authorization, Content-Type,
        // X-Raindrop-Project-Id, an SDK's own headers): none carries ambient
        // authority, and refusing one would fail the call with no answer.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(MAX_AGE)
}
