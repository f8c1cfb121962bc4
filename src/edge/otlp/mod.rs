//! `POST /v1/traces`: the OTLP/HTTP trace receiver.
//!
//! A request goes through the same steps as every ingest request
//! (`src/edge/ingest.rs`: auth, `X-Raindrop-Project-Id`, body budget,
//! project check, rate limit, publish with acks=all); only its body and its
//! answer differ, and live here:
//! - body: `application/x-protobuf` or `application/json` (anything else is
//!   415), `Content-Encoding` gzip or deflate, the size limit applied after
//!   decompression (`body.rs`); JSON is read into the protobuf messages
//!   (`json.rs`), so both share one conversion to rows (`span.rs`);
//! - answer: 200 with an `ExportTraceServiceResponse` in the request's
//!   encoding, its `partial_success` counting the spans left out and why.
//!   Errors keep downpour's JSON error body (a 400 is not retried by OTLP
//!   exporters; 429 and 503 carry `Retry-After`).

mod body;
mod json;
pub mod span;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

pub use body::Encoding;
pub use span::Rejected;

use super::budget::Reservation;
use super::validate::{Encoded, Envelope};
use crate::http::ApiError;
use crate::pipeline::Limits;

/// The body's encoding, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf` (or `application/protobuf`).
    Protobuf,
    /// `application/json`.
    Json,
}

impl Format {
    /// The request's format; another `Content-Type`, or none, is a 415.
    pub fn of(headers: &HeaderMap) -> Result<Format, ApiError> {
        let mime = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Format::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Ok(Format::Json)
        } else {
            Err(ApiError {
                param: Some("Content-Type".into()),
                ..ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "invalid_request_error",
                    "Content-Type: must be application/x-protobuf or application/json",
                )
            })
        }
    }
}

/// How the body arrived.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    /// Protobuf or JSON.
    pub format: Format,
    /// Compression.
    pub encoding: Encoding,
}

impl Wire {
    /// Reads both headers (415 for a value downpour does not take).
    pub fn of(headers: &HeaderMap) -> Result<Wire, ApiError> {
        Ok(Wire {
            format: Format::of(headers)?,
            encoding: Encoding::of(headers)?,
        })
    }
}

/// Decompresses, decodes and encodes an export into `spans` records.
pub fn encode(
    wire: Wire,
    body: Vec<u8>,
    max_bytes: usize,
    reserved: &mut Reservation<'_>,
    limits: &Limits,
    env: &Envelope<'_>,
) -> Result<(Encoded, Rejected), ApiError> {
    let body = body::decompress(wire.encoding, body, max_bytes, reserved)?;
    let request = match wire.format {
        Format::Protobuf => ExportTraceServiceRequest::decode(&body[..]).map_err(|e| {
            ApiError::bad_request(
                "body",
                &format!("is not an OTLP ExportTraceServiceRequest ({e})"),
            )
        })?,
        Format::Json => json::parse(&body)
            .map_err(|e| ApiError::bad_request("body", &format!("is not OTLP/JSON ({e})")))?,
    };
    drop(body);
    span::encode(&request, limits, env).map_err(|span::TooManySpans(n)| {
        ApiError::bad_request(
            "body",
            &format!("has {n} spans; at most {} per request", limits.max_items),
        )
    })
}

/// The success answer: `ExportTraceServiceResponse` in the request's format.
pub fn answer(format: Format, rejected: &Rejected) -> Response {
    let partial_success = (rejected.spans > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(rejected.spans).unwrap_or(i64::MAX),
        error_message: rejected.message(),
    });
    match format {
        Format::Protobuf => {
            let body = ExportTraceServiceResponse { partial_success }.encode_to_vec();
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                )],
                body,
            )
                .into_response()
        }
        Format::Json => {
            let body = match partial_success {
                None => serde_json::json!({}),
                // proto3 JSON: int64 as a string, lowerCamelCase keys.
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}
