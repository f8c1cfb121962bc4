//! The JSON error body for answers no handler built: unknown routes and
//! methods, and the plain-text rejections of axum's own extractors (a
//! malformed path segment, a body over a route's limit).
//!
//! A body refused unread (413, 408) leaves the connection mid-request, and
//! the server closes it after answering: the answer says so
//! (`Connection: close`), or a keep-alive client would send its next request
//! on a connection that is going away.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// `router` with JSON answers for unknown routes, wrong methods and every
/// error response that is not JSON yet.
pub fn with_json_errors(router: Router) -> Router {
    router
        .fallback(|| async { not_routed(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            not_routed(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(axum::middleware::map_response(json_errors))
}

fn not_routed(status: StatusCode, message: &str) -> Response {
    ApiError::new(status, "invalid_request_error", message).into_response()
}

async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut response = if !(status.is_client_error() || status.is_server_error()) || is_json {
        response
    } else {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let message = status.canonical_reason().unwrap_or("error").to_string();
        ApiError::new(status, kind, message).into_response()
    };
    if matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
