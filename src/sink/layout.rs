//! Checks that a record's body is exactly the rows its header announces,
//! in the RowBinary layout of the stream's table, without decoding a value.
//!
//! ClickHouse cannot tell where one record ends: the consumer concatenates
//! the records of a project into one INSERT, so a truncated row would make
//! ClickHouse read the next record's bytes as the rest of it, and a wrong
//! row count would go unnoticed. Walking the layout (skip a varint-prefixed
//! string, skip a fixed-width number) catches both before a byte is sent;
//! such a record is dead-lettered as `undecodable`. It costs one varint read
//! per string column, far less than the INSERT of the same bytes.
//!
//! Invariant: a record that passes is exactly `rows` whole rows of the
//! stream's declared row ([`crate::pipeline::rows`]) in the record's format
//! version; [`upgrade`] turns an older version's rows into today's layout.

use crate::pipeline::StreamKind;

/// Why a body is not the rows its header announces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The body ends inside a row.
    #[error("row {row} is truncated")]
    Truncated {
        /// Zero-based row index.
        row: u32,
    },
    /// Bytes remain after the announced rows.
    #[error("{extra} bytes after the {rows} rows the header announces")]
    TrailingBytes {
        /// Rows the header announced.
        rows: u32,
        /// Bytes left over.
        extra: usize,
    },
    /// A string length that is not a valid LEB128 number.
    #[error("row {row} has a malformed string length")]
    BadLength {
        /// Zero-based row index.
        row: u32,
    },
    /// A row's org or project is not the one its record's key names: the
    /// key is what the edge authorized, so the row must not claim another.
    #[error("row {row} belongs to another org or project than the record key")]
    WrongOwner {
        /// Zero-based row index.
        row: u32,
    },
}

/// The org and project a record key (`org/project`, or `org/project#n` for
/// a project the edge spreads over partitions, `crate::edge::hot`) names;
/// the project is a slug, which holds neither `/` nor `#`.
pub fn owner(key: &[u8]) -> (&[u8], &[u8]) {
    let key = project_key(key);
    match key.iter().rposition(|b| *b == b'/') {
        Some(at) => (&key[..at], &key[at + 1..]),
        None => (key, &[]),
    }
}

/// A record key without its spread suffix: `org/project`, what the
/// consumer groups and accounts rows by.
pub fn project_key(key: &[u8]) -> &[u8] {
    let project_at = key.iter().rposition(|b| *b == b'/').map_or(0, |at| at + 1);
    match key[project_at..].iter().position(|b| *b == b'#') {
        Some(mark) => &key[..project_at + mark],
        None => key,
    }
}

/// Checks that `body` is exactly `rows` rows of `kind`'s table, each
/// belonging to the org and project `key` names (every row declares `org`
/// and `project` as its first two columns).
pub fn check(kind: StreamKind, body: &[u8], rows: u32, key: &[u8]) -> Result<(), LayoutError> {
    walk(kind.schema().columns, body, rows, key, |_| {})
}

/// Checks a record body of format `version` like [`check`] and returns its
/// rows in today's layout: the body itself when the version's rows are
/// today's, else a copy with each row completed by the columns added since
/// (their defaults, [`StreamKind::upgrade_tail`]).
pub fn upgrade<'a>(
    kind: StreamKind,
    version: u8,
    body: &'a [u8],
    rows: u32,
    key: &[u8],
) -> Result<std::borrow::Cow<'a, [u8]>, LayoutError> {
    let columns = kind.columns_in(version);
    let Some(tail) = kind.upgrade_tail(version) else {
        walk(columns, body, rows, key, |_| {})?;
        return Ok(std::borrow::Cow::Borrowed(body));
    };
    // `rows` is the header's claim: a row takes at least a byte.
    let mut ends = Vec::with_capacity((rows as usize).min(body.len()));
    walk(columns, body, rows, key, |end| ends.push(end))?;
    let mut out = Vec::with_capacity(body.len() + tail.len() * ends.len());
    let mut start = 0;
    for end in ends {
        out.extend_from_slice(&body[start..end]);
        out.extend_from_slice(&tail);
        start = end;
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Walks `rows` rows of `columns` through `body`, calling `row_end` with
/// the offset where each row ends.
#[inline(always)]
fn walk(
    columns: &[crate::pipeline::row::Column],
    body: &[u8],
    rows: u32,
    key: &[u8],
    mut row_end: impl FnMut(usize),
) -> Result<(), LayoutError> {
    // `org` and `project` lead every row (a test in `pipeline::rows` holds
    // the declarations to it): they are compared, the rest only skipped.
    let rest = columns.get(2..).unwrap_or_default();
    let (org, project) = owner(key);
    // Every row starts with these exact bytes: one compare per row.
    let lead = owner_columns(org, project);
    let end = body.len();
    let mut at = 0usize;
    for row in 0..rows {
        if body[at..].starts_with(&lead) {
            at += lead.len();
        } else {
            // Say why: a row cut short, or one that names another owner.
            for expected in [org, project] {
                let width = string_len(body, &mut at, row)?;
                if body[at..at + width] != *expected {
                    return Err(LayoutError::WrongOwner { row });
                }
                at += width;
            }
        }
        for column in rest {
            let width = match column.ty.width() {
                Some(n) if n > end - at => return Err(LayoutError::Truncated { row }),
                Some(n) => n,
                None => string_len(body, &mut at, row)?,
            };
            at += width;
        }
        row_end(at);
    }
    if at != end {
        return Err(LayoutError::TrailingBytes {
            rows,
            extra: end - at,
        });
    }
    Ok(())
}

/// `org` and `project` as the first two RowBinary columns of a row.
fn owner_columns(org: &[u8], project: &[u8]) -> Vec<u8> {
    let mut lead = Vec::with_capacity(org.len() + project.len() + 4);
    let mut w = crate::sink::rowbinary::RowWriter::new(&mut lead);
    w.string(org);
    w.string(project);
    lead
}

/// Reads the LEB128 length of the string at `*at`, moving `*at` past it;
/// the string's bytes are all in `body`.
#[inline(always)]
fn string_len(body: &[u8], at: &mut usize, row: u32) -> Result<usize, LayoutError> {
    let mut len = 0u64;
    let mut shift = 0u32;
    loop {
        let Some(&b) = body.get(*at) else {
            return Err(LayoutError::Truncated { row });
        };
        *at += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift >= 64 {
            return Err(LayoutError::BadLength { row });
        }
    }
    if len > (body.len() - *at) as u64 {
        return Err(LayoutError::Truncated { row });
    }
    Ok(len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::rowbinary::RowWriter;

    const KEY: &[u8] = b"acme/default";

    #[test]
    fn a_row_of_another_owner_than_its_key_is_refused() {
        let mut body = Vec::new();
        user_row(&mut body, "u1");
        assert_eq!(
            check(StreamKind::Users, &body, 1, b"acme/other"),
            Err(LayoutError::WrongOwner { row: 0 })
        );
        assert_eq!(
            check(StreamKind::Users, &body, 1, b"evil/default"),
            Err(LayoutError::WrongOwner { row: 0 })
        );
        assert_eq!(
            check(StreamKind::Users, &body, 1, b"acme"),
            Err(LayoutError::WrongOwner { row: 0 })
        );
        assert_eq!(
            owner(b"org/with/slash/proj"),
            (&b"org/with/slash"[..], &b"proj"[..])
        );
        assert_eq!(owner(b"acme/hot#3"), (&b"acme"[..], &b"hot"[..]));
        assert_eq!(project_key(b"acme/hot#3"), b"acme/hot");
        assert_eq!(project_key(b"ac#me/hot"), b"ac#me/hot", "an org may hold #");
        assert_eq!(project_key(b"acme/hot"), b"acme/hot");
    }

    fn user_row(buf: &mut Vec<u8>, user: &str) {
        let mut w = RowWriter::new(buf);
        w.string(b"acme");
        w.string(b"default");
        w.string(user.as_bytes());
        w.string_with(|b| {
            b.extend_from_slice(b"{}");
            Ok::<(), ()>(())
        })
        .expect("traits");
        w.datetime(1_700_000_000);
        w.u64(1_700_000_000_000);
        w.datetime(1_700_000_000);
        w.u64(7);
        w.datetime(1_800_000_000);
    }

    #[test]
    fn whole_rows_pass_and_damaged_ones_are_named() {
        let mut body = Vec::new();
        user_row(&mut body, "u1");
        user_row(&mut body, "u2");
        assert_eq!(check(StreamKind::Users, &body, 2, KEY), Ok(()));
        assert_eq!(
            check(StreamKind::Users, &body, 3, KEY),
            Err(LayoutError::Truncated { row: 2 }),
            "a header claiming more rows than the body holds"
        );
        assert_eq!(
            check(StreamKind::Users, &body, 1, KEY),
            Err(LayoutError::TrailingBytes {
                rows: 1,
                extra: body.len() / 2
            })
        );
        let cut = &body[..body.len() - 3];
        assert_eq!(
            check(StreamKind::Users, cut, 2, KEY),
            Err(LayoutError::Truncated { row: 1 })
        );
        let huge_length = [0xff, 0xff, 0xff, 0xff, 0x0f, b'a'];
        assert_eq!(
            check(StreamKind::Users, &huge_length, 1, KEY),
            Err(LayoutError::Truncated { row: 0 })
        );
        let endless_varint = [0x80u8; 12];
        assert_eq!(
            check(StreamKind::Users, &endless_varint, 1, KEY),
            Err(LayoutError::BadLength { row: 0 })
        );
    }

    /// `cargo test --release --lib layout_check_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a timing, run by hand in release"]
    fn layout_check_cost() {
        // An events row: 12 strings (a ~300-byte SDK event), 3 numbers; a
        // record's worth (~300 KB), as the consumer checks one just fetched.
        let mut body = Vec::new();
        let rows = 1_000u32;
        for i in 0..rows {
            let mut w = RowWriter::new(&mut body);
            for s in [
                "acme",
                "default",
                &format!("event-{i}"),
                "user123",
                "ai_interaction",
            ] {
                w.string(s.as_bytes());
            }
            w.datetime(1_767_323_045);
            w.u64(1_767_323_045_678);
            w.datetime(1_767_323_046);
            for s in [
                "gpt_4",
                "What is the weather like today?",
                "Sunny.",
                "conv789",
            ] {
                w.string(s.as_bytes());
            }
            w.string(br#"{"tool_call":"reasoning_engine","experiment":"experiment_a"}"#);
            w.string(
                br#"[{"type":"image","value":"https://example.com/image.png","role":"output"}]"#,
            );
            w.u8(0);
        }
        let started = std::time::Instant::now();
        for _ in 0..1_000 {
            check(
                StreamKind::Events,
                std::hint::black_box(&body),
                rows,
                b"acme/default",
            )
            .expect("valid");
        }
        let per_row = started.elapsed().as_nanos() as f64 / f64::from(rows * 1_000);
        println!("layout check: {per_row:.1} ns per events row");
    }
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;
    use crate::bus::record;
    use crate::edge::validate::{Envelope, encode};
    use crate::pipeline::Limits;

    /// One event's row as today's edge writes it.
    fn row(kind: StreamKind, item: &str) -> Vec<u8> {
        let limits = Limits {
            max_items: 10,
            max_item_bytes: 1 << 20,
        };
        let env = Envelope {
            redaction: None,
            retention: crate::registry::projects::Retention::DEFAULT,
            org: "acme",
            project: "default",
            received_us: 1_700_000_000_000_000,
        };
        let records = encode(kind, &limits, &mut item.as_bytes().to_vec(), &env).expect("valid");
        record::parse(&records.records[0], kind)
            .expect("record")
            .body
            .to_vec()
    }

    /// An item of each stream.
    const ITEMS: [(StreamKind, &str); 4] = [
        (
            StreamKind::Events,
            r#"{"event_id":"e1","user_id":"u","event":"x","ai_data":{"input":"hi"}}"#,
        ),
        (
            StreamKind::PartialEvents,
            r#"{"event_id":"e1","is_pending":false}"#,
        ),
        (
            StreamKind::Signals,
            r#"{"event_id":"e1","signal_name":"s"}"#,
        ),
        (StreamKind::Users, r#"{"user_id":"e1"}"#),
    ];

    /// The bytes of the last `columns` columns of `row`: the columns an
    /// older version's row lacks are the last ones.
    fn tail_len(kind: StreamKind, row: &[u8], columns: usize) -> usize {
        let all = kind.schema().columns;
        let mut at = 0;
        let mut starts = Vec::new();
        for c in all {
            starts.push(at);
            at += match c.ty.width() {
                Some(n) => n,
                None => string_len(row, &mut at, 0).expect("a string"),
            };
        }
        assert_eq!(at, row.len(), "{}", kind.name());
        row.len() - starts[all.len() - columns]
    }

    #[test]
    fn older_rows_are_completed_to_today_s_layout() {
        for (kind, item) in ITEMS {
            for version in record::OLDEST_VERSION..record::VERSION {
                let today = row(kind, item);
                let missing = kind.schema().columns.len() - kind.columns_in(version).len();
                assert!(missing > 0, "{} v{version}", kind.name());
                let old_row = &today[..today.len() - tail_len(kind, &today, missing)];
                let old: Vec<u8> = [old_row, old_row].concat();
                assert!(
                    check(kind, &old, 2, b"acme/default").is_err(),
                    "not today's layout"
                );
                let upgraded =
                    upgrade(kind, version, &old, 2, b"acme/default").expect("an older record");
                assert!(matches!(upgraded, std::borrow::Cow::Owned(_)));
                assert_eq!(check(kind, &upgraded, 2, b"acme/default"), Ok(()));
                let mut record = Vec::new();
                record::begin(&mut record, kind);
                record.extend_from_slice(&upgraded);
                record::finish(&mut record, 2);
                let rows = crate::pipeline::reader::decode(kind, &[record]);
                for r in &rows {
                    // Unstamped: the default retention applies (src/sink/retention.rs).
                    assert_eq!(r.datetime("expires_at"), 0);
                    if matches!(kind, StreamKind::Events | StreamKind::PartialEvents) {
                        assert_eq!(r.datetime("body_expires_at"), 0);
                        assert_eq!(r.str("event_id"), "e1");
                    }
                    if version == 1 && kind == StreamKind::Events {
                        assert_eq!((r.str("feature_flags"), r.str("extra")), ("{}", "{}"));
                    }
                    if version == 1 && kind == StreamKind::PartialEvents {
                        assert_eq!((r.str("feature_flags"), r.str("extra")), ("", ""));
                    }
                }
                // Damage is still named in the old layout.
                assert_eq!(
                    upgrade(kind, version, &old[..old.len() - 1], 2, b"acme/default").err(),
                    Some(LayoutError::Truncated { row: 1 })
                );
            }
        }
        // Today's records pass as they are.
        let today = row(StreamKind::Events, r#"{"user_id":"u","event":"x"}"#);
        let same = upgrade(
            StreamKind::Events,
            record::VERSION,
            &today,
            1,
            b"acme/default",
        );
        assert!(matches!(same, Ok(std::borrow::Cow::Borrowed(_))));
    }
}
