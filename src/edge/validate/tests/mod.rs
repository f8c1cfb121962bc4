//! Unit tests of validation and encoding: the shared fixtures; the tests
//! are in the submodules, one per concern.
//!
//! Every accepted request is decoded back with a small RowBinary reader
//! ([`decode`]) that takes its column list from the stream's declared row
//! and its column types from the migration in `sql/`, independently of the
//! writer, so the tests check the bytes the consumer will insert.
//! Where a source's words justify an assertion they are quoted, with the
//! source named as in `docs/CONTRACT.md` §C1 (Raindrop's "HTTP API" page,
//! the product brief); the rules themselves are restated there (§C2, §C8–§C12).

use serde_json::{Value as Json, json};

use super::*;
use crate::bus::record;
use crate::pipeline::{self, Limits, StreamKind};

mod events;
mod fuzz;
mod partial;
mod refusals;
mod retention;
mod signals;
mod size;
mod spec;
mod time;

use crate::pipeline::reader::{Row, decode};

const ORG: &str = "org_acme";
const PROJECT: &str = "prod-eu";
/// 2023-11-14T22:13:20.123456Z.
const RECEIVED_US: u64 = 1_700_000_000_123_456;
const RECEIVED_SECS: u32 = 1_700_000_000;
const RECEIVED_MS: u64 = 1_700_000_000_123;

fn env() -> Envelope<'static> {
    Envelope {
        redaction: None,
        retention: crate::registry::projects::Retention::DEFAULT,
        org: ORG,
        project: PROJECT,
        received_us: RECEIVED_US,
    }
}

/// The limits the binary really runs with (`pipelines/*.toml`, built in).
fn limits(kind: StreamKind) -> Limits {
    pipeline::load(None)
        .expect("built-in pipelines load")
        .into_iter()
        .find(|p| p.kind == kind)
        .expect("a pipeline per kind")
        .limits
}

fn small_limits(max_item_bytes: usize) -> Limits {
    Limits {
        max_items: 10_000,
        max_item_bytes,
    }
}

fn run_with(kind: StreamKind, limits: &Limits, body: &[u8]) -> Result<Encoded, Invalid> {
    let mut bytes = body.to_vec();
    encode(kind, limits, &mut bytes, &env())
}

fn run(kind: StreamKind, body: &str) -> Result<Encoded, Invalid> {
    run_with(kind, &limits(kind), body.as_bytes())
}

/// Encodes an accepted body and decodes its rows.
fn rows_of(kind: StreamKind, body: &str) -> Vec<Row> {
    let enc = run(kind, body).unwrap_or_else(|e| panic!("refused: {e:?}\nbody: {body}"));
    let rows = decode(kind, &enc.records);
    assert_eq!(rows.len(), enc.items, "one row per item");
    rows
}

fn one_row(kind: StreamKind, body: &str) -> Row {
    let mut rows = rows_of(kind, body);
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

/// Encodes a refused body and returns why.
fn refused(kind: StreamKind, body: &str) -> Invalid {
    refused_bytes(kind, &limits(kind), body.as_bytes())
}

fn refused_bytes(kind: StreamKind, limits: &Limits, body: &[u8]) -> Invalid {
    match run_with(kind, limits, body) {
        Ok(enc) => panic!(
            "accepted ({} items), expected a refusal: {}",
            enc.items,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_refused(kind: StreamKind, body: &str, status: u16, param: &str, reason_has: &str) {
    let e = refused(kind, body);
    assert_eq!(e.status, status, "{e:?}");
    assert_eq!(e.param, param, "{e:?}");
    assert!(
        e.reason.contains(reason_has),
        "reason {:?} lacks {reason_has:?}",
        e.reason
    );
}

fn parse_json(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A UUID v4 in hyphenated form, as `fields::new_id` makes.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
