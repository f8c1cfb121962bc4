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
//! - memory: the decoded messages are larger than the bytes they came from
//!   (prost's owned `String`s and `Vec`s; an empty span is 2 bytes on the
//!   wire and some 260 in memory), so while it decodes and encodes, a
//!   request holds [`Format::amplification`] times its decompressed size of
//!   the decode budget (`EdgeState::decode_budget`, as large as
//!   `edge.max_inflight_body_bytes`): 503 when the budget cannot give it
//!   now, 413 when it never could (by default 2 MiB of protobuf, 1 MiB of
//!   JSON per export; OTel exporters send batches of 512 spans, the
//!   Raindrop SDKs' JSON exporters of 50). Decoding is synchronous, so only
//!   as many requests as worker threads hold it at once, briefly;
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

use super::budget::{BodyBudget, Reservation};
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
    /// The most memory decoding one byte of a body can take, a bound over
    /// the smallest encodings of each message (an empty span: 2 bytes of
    /// protobuf, 3 of JSON) with room for `Vec` growth; JSON also passes
    /// through `json.rs`'s own structs.
    pub fn amplification(self) -> usize {
        match self {
            Format::Protobuf => 128,
            Format::Json => 256,
        }
    }

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
            Err(ApiError::unsupported_media(
                "Content-Type",
                "application/x-protobuf or application/json",
            ))
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
#[allow(clippy::too_many_arguments)]
pub fn encode(
    wire: Wire,
    body: Vec<u8>,
    max_bytes: usize,
    reserved: &mut Reservation<'_>,
    decode_budget: &BodyBudget,
    limits: &Limits,
    env: &Envelope<'_>,
) -> Result<(Encoded, Rejected), ApiError> {
    let body = body::decompress(wire.encoding, body, max_bytes, reserved)?;
    let decoded = body.len().saturating_mul(wire.format.amplification());
    if decoded > decode_budget.total_bytes() {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "body: {} bytes of OTLP decode to up to {decoded} bytes, more than the edge's \
                 body memory (edge.max_inflight_body_bytes) holds; send smaller batches",
                body.len()
            ),
        )
        .with_param("body"));
    }
    // `reserve(n)` holds twice `n`: `decoded / 2` holds `decoded`. Held
    // until the messages are dropped, at the end of this function.
    let org: std::sync::Arc<str> = std::sync::Arc::from(env.org);
    let Some(_decoding) = decode_budget.reserve(&org, decoded / 2) else {
        return Err(super::ingest::budget_spent());
    };
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::edge::budget::BodyBudget;

    const ENV: Envelope<'static> = Envelope {
        redaction: None,
        retention: crate::registry::projects::Retention::DEFAULT,
        org: "acme",
        project: "default",
        received_us: 1_700_000_000_000_000,
    };
    const WIRE: Wire = Wire {
        format: Format::Protobuf,
        encoding: Encoding::Identity,
    };

    /// 8,000 empty spans in 16 kB of protobuf: about 2 MB once decoded.
    fn dense_export() -> Vec<u8> {
        let empty_span = [0x12, 0x00]; // ScopeSpans.spans, an empty Span
        let scope: Vec<u8> = empty_span.repeat(8000);
        let mut scope_spans = vec![0x12]; // ResourceSpans.scope_spans
        prost::encoding::encode_varint(scope.len() as u64, &mut scope_spans);
        scope_spans.extend(scope);
        let mut body = vec![0x0a]; // ExportTraceServiceRequest.resource_spans
        prost::encoding::encode_varint(scope_spans.len() as u64, &mut body);
        body.extend(scope_spans);
        body
    }

    #[test]
    fn the_decoded_size_is_reserved_before_decoding() {
        let limits = Limits {
            max_items: 100_000,
            max_item_bytes: 1 << 20,
        };
        let org: Arc<str> = Arc::from("acme");
        let body = dense_export();
        assert!(body.len() < 20_000);
        let bodies = BodyBudget::new(64 << 20, 1.0);
        let mut r = bodies.reserve(&org, body.len()).expect("reserve");
        // A decode budget the decoded export could never fit: 413 before decoding.
        let small = BodyBudget::new(1 << 20, 1.0);
        let e = encode(WIRE, body.clone(), 20 << 20, &mut r, &small, &limits, &ENV);
        assert_eq!(
            e.expect_err("too big").status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // One that could, but is held by another decode now: 503.
        let busy = BodyBudget::new(4 << 20, 1.0);
        let other: Arc<str> = Arc::from("other");
        let held = busy.reserve(&other, 3 << 19).expect("another decode");
        let e = encode(WIRE, body.clone(), 20 << 20, &mut r, &busy, &limits, &ENV);
        assert_eq!(e.expect_err("busy").status, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        // Room for it: decoded (every empty span rejected by its ids), and
        // the decode budget given back.
        let (encoded, rejected) =
            encode(WIRE, body, 20 << 20, &mut r, &busy, &limits, &ENV).expect("decoded");
        assert_eq!((encoded.items, rejected.spans), (0, 8000));
        assert!(busy.reserve(&other, 2 << 20).is_some(), "given back");
    }
}
