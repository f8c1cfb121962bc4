//! An OTLP body as sent: `Content-Encoding: gzip` or `deflate` (zlib, or
//! raw deflate as some clients send it), or none.
//!
//! Invariant: the size limit holds for the *decompressed* bytes, which are
//! inflated in chunks and counted against the request's body reservation
//! as they grow: a small gzip bomb gets 413 (or 503 when the edge's body
//! memory is spent) after at most `limit` bytes, never more memory.

use std::io::Read;

use axum::http::{HeaderMap, StatusCode, header};

use crate::edge::budget::Reservation;
use crate::http::ApiError;

/// Inflated in steps of this many bytes.
const STEP: usize = 64 * 1024;

/// How the body was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As sent.
    Identity,
    /// `gzip`.
    Gzip,
    /// `deflate`.
    Deflate,
}

impl Encoding {
    /// The request's `Content-Encoding`; another one is a 415.
    pub fn of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let value = value.to_str().unwrap_or("").trim();
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            Ok(Encoding::Gzip)
        } else if value.eq_ignore_ascii_case("deflate") {
            Ok(Encoding::Deflate)
        } else if value.eq_ignore_ascii_case("identity") || value.is_empty() {
            Ok(Encoding::Identity)
        } else {
            Err(ApiError::unsupported_media(
                "Content-Encoding",
                "gzip, deflate or identity",
            ))
        }
    }
}

/// `body` decompressed, at most `limit` bytes, its memory reserved.
pub fn decompress(
    encoding: Encoding,
    body: Vec<u8>,
    limit: usize,
    reserved: &mut Reservation<'_>,
) -> Result<Vec<u8>, ApiError> {
    match encoding {
        Encoding::Identity => Ok(body),
        Encoding::Gzip => inflate(
            flate2::read::MultiGzDecoder::new(&body[..]),
            &body,
            limit,
            reserved,
        ),
        Encoding::Deflate if looks_like_zlib(&body) => inflate(
            flate2::read::ZlibDecoder::new(&body[..]),
            &body,
            limit,
            reserved,
        ),
        Encoding::Deflate => inflate(
            flate2::read::DeflateDecoder::new(&body[..]),
            &body,
            limit,
            reserved,
        ),
    }
}

/// RFC 1950's header: CM = 8 and the check bits.
fn looks_like_zlib(body: &[u8]) -> bool {
    matches!(body, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

fn inflate(
    mut reader: impl Read,
    sent: &[u8],
    limit: usize,
    reserved: &mut Reservation<'_>,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity((sent.len() * 4).min(limit).min(STEP * 16));
    loop {
        let at = out.len();
        if at > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("body: larger than {limit} bytes once decompressed"),
            )
            .with_param("body"));
        }
        // The compressed bytes stay held while the inflated ones grow.
        if !reserved.grow_to(sent.len() + at + STEP) {
            return Err(super::super::ingest::budget_spent());
        }
        out.resize(at + STEP, 0);
        match reader.read(&mut out[at..]) {
            Ok(0) => {
                out.truncate(at);
                return Ok(out);
            }
            Ok(n) => out.truncate(at + n),
            Err(e) => {
                return Err(ApiError::bad_request(
                    "body",
                    &format!("could not be decompressed ({e})"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::edge::budget::BodyBudget;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_inflate() {
        let budget = BodyBudget::new(64 << 20, 1.0);
        let org: Arc<str> = Arc::from("o");
        let data = b"spans spans spans".repeat(1000);
        let mut r = budget.reserve(&org, 1024).expect("reserve");
        let got = decompress(Encoding::Gzip, gzip(&data), 1 << 20, &mut r).expect("gzip");
        assert_eq!(got, data);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&data).expect("write");
        let got = decompress(Encoding::Deflate, z.finish().expect("z"), 1 << 20, &mut r);
        assert_eq!(got.expect("zlib"), data);
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        d.write_all(&data).expect("write");
        let got = decompress(Encoding::Deflate, d.finish().expect("d"), 1 << 20, &mut r);
        assert_eq!(got.expect("raw deflate"), data);
        let bad = decompress(Encoding::Gzip, b"not gzip".to_vec(), 1 << 20, &mut r);
        assert_eq!(bad.expect_err("garbage").status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let budget = BodyBudget::new(64 << 20, 1.0);
        let org: Arc<str> = Arc::from("o");
        // 64 MiB of zeros is about 64 KiB of gzip.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 200 * 1024);
        let mut r = budget.reserve(&org, bomb.len()).expect("reserve");
        let e = decompress(Encoding::Gzip, bomb.clone(), 1 << 20, &mut r).expect_err("bomb");
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.covers() < 4 << 20, "reserved {} bytes", r.covers());
        // The edge's body memory mostly held by other requests: 503 once
        // the inflated bytes need more than is left, never more memory.
        let small = BodyBudget::new(8 << 20, 1.0);
        let other: Arc<str> = Arc::from("other");
        let _held = small.reserve(&other, 3 << 20).expect("other request");
        let mut r = small.reserve(&org, bomb.len()).expect("reserve");
        let e = decompress(Encoding::Gzip, bomb, 16 << 20, &mut r).expect_err("bomb");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.covers() <= 1 << 20);
    }
}
