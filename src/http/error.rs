//! The one error type every endpoint answers with, in one of two bodies:
//! - ingest and admin: `{"error": {"message", "type", "code", "param"}}`
//!   (docs/CONTRACT.md §C13, the OpenAI-style error body, plus `param`
//!   naming the offending item and field);
//! - the Query API: `{"error": {"code", "message", "details": {"field",
//!   "allowed_fields"}}}`, the body `@raindrop-ai/query` parses (`code` a
//!   string; [`query_body`], applied by the query router).
//!
//! Every handler returns `Result<_, ApiError>`; the domain errors of the
//! layers below convert here, in one table, so a status is chosen in one
//! place. A 5xx never carries a lower layer's text (it may name hosts or
//! internals); it is logged where it happens.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::bus::producer::PublishError;
use crate::bus::spool::SpoolError;
use crate::edge::validate::Invalid;
use crate::registry::keys::{AuthError, KeyStoreError};
use crate::registry::projects::ProjectError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable category.
    pub kind: &'static str,
    /// Human-readable message; names item and field when there is one.
    pub message: String,
    /// The offending item and field, e.g. `[3].user_id`.
    pub param: Option<String>,
    /// Seconds for `Retry-After` (429s and 503s).
    pub retry_after: Option<u32>,
    /// The names `param` may take, for an unknown or misspelled one.
    pub allowed_fields: Vec<String>,
}

impl ApiError {
    /// An error without a param.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
            allowed_fields: Vec::new(),
        }
    }

    /// The same error, listing the names `param` may take.
    pub fn with_allowed(self, fields: &[&str]) -> ApiError {
        ApiError {
            allowed_fields: fields.iter().map(|f| f.to_string()).collect(),
            ..self
        }
    }

    /// The same error, naming `param`.
    pub fn with_param(self, param: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..self
        }
    }

    /// 400 naming `param`.
    pub fn bad_request(param: &str, reason: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("{param}: {reason}"),
        )
        .with_param(param)
    }

    /// 415 naming the header `param`: "`param`: must be `expected`".
    pub fn unsupported_media(param: &str, expected: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            format!("{param}: must be {expected}"),
        )
        .with_param(param)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
}

/// The error body of the ingest and admin routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong.
    pub error: ErrorDetail<'a>,
}

/// What went wrong, naming the item and field.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// Human-readable; names the item and field when there is one.
    pub message: &'a str,
    /// Category: `invalid_request_error`, `authentication_error`, ...
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The HTTP status.
    pub code: u16,
    /// The offending item and field (`[3].user_id`), or null.
    pub param: Option<&'a str>,
}

/// The Query API's error body (`@raindrop-ai/query` 0.1.13's `*Error`s).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryErrorBody<'a> {
    /// What went wrong.
    pub error: QueryErrorDetail<'a>,
}

/// What went wrong on a Query API route.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryErrorDetail<'a> {
    /// Category: `invalid_request_error`, `not_found`, ...
    pub code: &'a str,
    /// Human-readable.
    pub message: &'a str,
    /// The parameter at fault, and the names it may take.
    pub details: QueryErrorDetails<'a>,
}

/// The parameter at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryErrorDetails<'a> {
    /// The parameter as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// The names it may take (an unknown parameter, a bad enum value).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub allowed_fields: &'a [String],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind,
                code: self.status.as_u16(),
                param: self.param.as_deref(),
            },
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // For a router that answers in another body (`query_body`).
        response.extensions_mut().insert(self);
        response
    }
}

/// Rewrites an error answer into the Query API's body,
/// `{"error": {"code", "message", "details": {"field", "allowed_fields"}}}`
/// (the `*Error$inboundSchema`s of `@raindrop-ai/query` 0.1.13); other answers
/// pass unchanged. Status and `Retry-After` stay. Used with
/// `axum::middleware::map_response`.
pub async fn query_body(mut response: Response) -> Response {
    let Some(e) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    let body = QueryErrorBody {
        error: QueryErrorDetail {
            code: e.kind,
            message: &e.message,
            details: QueryErrorDetails {
                field: e.param.as_deref(),
                allowed_fields: &e.allowed_fields,
            },
        },
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    let headers = response.headers().clone();
    let mut rewritten = (response.status(), body).into_response();
    *rewritten.headers_mut() = headers;
    rewritten.headers_mut().remove(header::CONTENT_LENGTH);
    rewritten
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        let (status, kind) = match e.status {
            413 => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            _ => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        };
        ApiError::new(status, kind, e.message()).with_param(e.param)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Unavailable(_) => {
                ApiError::unavailable("key store unavailable, retry shortly")
            }
            AuthError::TooManyLookups(wait) => ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    e.to_string(),
                )
                .with_param("Authorization")
            },
            e => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                e.to_string(),
            )
            .with_param("Authorization"),
        }
    }
}

impl From<KeyStoreError> for ApiError {
    fn from(_: KeyStoreError) -> ApiError {
        ApiError::unavailable("key store unavailable, retry shortly")
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> ApiError {
        // The broker's own text stays in the log: it names internals. At
        // debug: in an outage every request fails so, and the operator
        // already has `broker reachability changed` (once) and the 503s in
        // `downpour_edge_requests_total`.
        tracing::debug!(error = %e, "publish failed");
        ApiError::unavailable("event bus unavailable, retry shortly")
    }
}

impl From<SpoolError> for ApiError {
    fn from(e: SpoolError) -> ApiError {
        match e {
            SpoolError::Full => {
                ApiError::unavailable("event bus unavailable and spool full, retry shortly")
            }
            SpoolError::Refused(e) => ApiError::from(e),
            SpoolError::Io(_) | SpoolError::Closed => {
                tracing::warn!(error = %e, "spool append failed");
                ApiError::unavailable("event bus unavailable, retry shortly")
            }
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> ApiError {
        match e {
            ProjectError::NotFound(_) => ApiError::not_found(e.to_string()),
            ProjectError::Conflict(_) => ApiError::conflict(e.to_string()),
            ProjectError::Invalid {
                ref field,
                ref reason,
            } => ApiError::bad_request(field, reason),
            ProjectError::Unavailable(_) | ProjectError::Down(_) => {
                tracing::warn!(error = %e, "registry unavailable");
                ApiError::unavailable("registry unavailable, retry shortly")
            }
        }
    }
}
