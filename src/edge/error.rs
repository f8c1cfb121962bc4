//! The one error shape every endpoint answers with:
//! `{"error": {"message", "type", "code", "param"}}` (the OpenAI-style body
//! of collieai-projects.md, plus `param` naming the offending item and field).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::validate::Invalid;
use crate::bus::producer::PublishError;
use crate::registry::keys::AuthError;

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
    /// Seconds for `Retry-After` (503s).
    pub retry_after: Option<u32>,
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
        }
    }

    /// 400 naming `param`.
    pub fn bad_request(param: &str, reason: &str) -> ApiError {
        ApiError {
            param: Some(param.to_string()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("{param}: {reason}"),
            )
        }
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "code": self.status.as_u16(),
                "param": self.param,
            }
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        let (status, kind) = match e.status {
            413 => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            _ => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        };
        ApiError {
            param: Some(e.param.clone()),
            ..ApiError::new(status, kind, e.message())
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Unavailable(_) => {
                ApiError::unavailable("key store unavailable, retry shortly")
            }
            e => ApiError {
                param: Some("Authorization".into()),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "authentication_error",
                    e.to_string(),
                )
            },
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> ApiError {
        ApiError::unavailable(format!("event bus unavailable, retry shortly ({e})"))
    }
}
