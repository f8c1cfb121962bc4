//! Unit tests of validation and encoding.
//!
//! Every accepted request is decoded back with a small RowBinary reader
//! ([`decode`]) that takes its column list from the stream's declared row and
//! its column types from the migration in `sql/`, independently of the
//! writer, so the tests check the bytes the consumer will insert.
//! The rule behind an assertion is cited by its section of
//! `docs/CONTRACT.md` (§C2 routes, §C8 events, §C9 signals, §C10 users,
//! §C11 partial events, §C12 the 1 MB limit, §C20 the real clients).

use serde_json::{Value as Json, json};

use super::*;
use crate::bus::record;
use crate::pipeline::{self, Limits, StreamKind};
use crate::sink::schema;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const ORG: &str = "org_acme";
const PROJECT: &str = "prod-eu";
/// 2023-11-14T22:13:20.123456Z.
const RECEIVED_US: u64 = 1_700_000_000_123_456;
const RECEIVED_SECS: u32 = 1_700_000_000;
const RECEIVED_MS: u64 = 1_700_000_000_123;

const ALL_KINDS: [StreamKind; 4] = [
    StreamKind::Events,
    StreamKind::Signals,
    StreamKind::Users,
    StreamKind::PartialEvents,
];

fn env() -> Envelope<'static> {
    Envelope {
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

// ---------------------------------------------------------------------------
// RowBinary reader
// ---------------------------------------------------------------------------

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Str(String),
    U8(u8),
    U64(u64),
    DateTime(u32),
}

/// One decoded row: columns by name, and its size in bytes.
#[derive(Debug, Clone)]
struct Row {
    cells: Vec<(String, Cell)>,
    len: usize,
}

impl Row {
    fn cell(&self, name: &str) -> &Cell {
        self.cells
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.cells))
    }

    fn str(&self, name: &str) -> &str {
        match self.cell(name) {
            Cell::Str(s) => s,
            other => panic!("{name} is {other:?}, not a String"),
        }
    }

    fn u8(&self, name: &str) -> u8 {
        match self.cell(name) {
            Cell::U8(v) => *v,
            other => panic!("{name} is {other:?}, not a UInt8"),
        }
    }

    fn u64(&self, name: &str) -> u64 {
        match self.cell(name) {
            Cell::U64(v) => *v,
            other => panic!("{name} is {other:?}, not a UInt64"),
        }
    }

    fn datetime(&self, name: &str) -> u32 {
        match self.cell(name) {
            Cell::DateTime(v) => *v,
            other => panic!("{name} is {other:?}, not a DateTime"),
        }
    }

    fn json(&self, name: &str) -> Json {
        parse_json(self.str(name))
    }
}

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    U8,
    U64,
    DateTime,
}

/// Column names from the stream's declared row, types from the `CREATE TABLE`
/// in the migration (so the reader follows the real table, not the writer).
fn layout(kind: StreamKind) -> Vec<(String, Ty)> {
    let sql = schema::MIGRATIONS[0].1;
    let head = format!("CREATE TABLE IF NOT EXISTS {} (", kind.name());
    let start = sql.find(&head).expect("table in sql") + head.len();
    let end = start + sql[start..].find(") ENGINE").expect("table end");
    let types: Vec<(&str, &str)> = sql[start..end]
        .lines()
        .filter_map(|l| {
            let mut words = l.trim().trim_end_matches(',').split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect();
    kind.schema()
        .columns
        .iter()
        .map(|c| c.name)
        .map(|name| {
            let ty = types
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| panic!("column {name} not in sql"));
            let ty = match ty {
                "String" => Ty::Str,
                "UInt8" => Ty::U8,
                "UInt64" => Ty::U64,
                "DateTime" => Ty::DateTime,
                other => panic!("reader does not know type {other}"),
            };
            (name.to_string(), ty)
        })
        .collect()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.at.checked_add(n).expect("length overflow");
        assert!(
            end <= self.bytes.len(),
            "row data ends early: need {n} bytes at {}, have {}",
            self.at,
            self.bytes.len()
        );
        let out = &self.bytes[self.at..end];
        self.at = end;
        out
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint longer than 10 bytes");
    }

    fn string(&mut self) -> String {
        let n = usize::try_from(self.varint()).expect("length fits usize");
        String::from_utf8(self.take(n).to_vec()).expect("String columns hold UTF-8")
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

/// Checks each record's header and decodes all rows, in order.
fn decode(kind: StreamKind, records: &[Vec<u8>]) -> Vec<Row> {
    let layout = layout(kind);
    let mut rows = Vec::new();
    for value in records {
        assert_eq!(value[0], 0xD0, "magic");
        assert_eq!(value[1], record::VERSION, "version");
        assert_eq!(value[2], kind.tag(), "stream tag");
        let view = record::parse(value, kind).expect("a valid record");
        let mut r = Reader {
            bytes: view.body,
            at: 0,
        };
        for _ in 0..view.rows {
            let start = r.at;
            let cells = layout
                .iter()
                .map(|(name, ty)| {
                    let cell = match ty {
                        Ty::Str => Cell::Str(r.string()),
                        Ty::U8 => Cell::U8(r.u8()),
                        Ty::U64 => Cell::U64(r.u64()),
                        Ty::DateTime => Cell::DateTime(r.u32()),
                    };
                    (name.clone(), cell)
                })
                .collect();
            rows.push(Row {
                cells,
                len: r.at - start,
            });
        }
        assert_eq!(r.at, view.body.len(), "record has bytes after its rows");
    }
    rows
}

#[test]
fn reader_reads_padded_and_multibyte_lengths() {
    use crate::sink::rowbinary::RowWriter;
    let mut buf = Vec::new();
    let mut w = RowWriter::new(&mut buf);
    w.string(&[b'a'; 300]);
    let _ = w.string_with(|out| {
        out.extend_from_slice(b"{}");
        Ok::<(), ()>(())
    });
    w.u64(u64::MAX - 1);
    let mut r = Reader { bytes: &buf, at: 0 };
    assert_eq!(r.string().len(), 300);
    assert_eq!(r.string(), "{}");
    assert_eq!(r.u64(), u64::MAX - 1);
    assert_eq!(r.at, buf.len());
}

// ---------------------------------------------------------------------------
// Spec examples
// ---------------------------------------------------------------------------

/// The AI-interaction example request of Raindrop's "HTTP API" page
/// ("Track Event"), unchanged (docs/CONTRACT.md §C8).
const DOC_EVENT: &str = r#"[{
  "user_id": "user123",
  "event": "ai_interaction",
  "properties": {
    "tool_call": "reasoning_engine",
    "system_prompt": "you are a helpful...",
    "experiment": "experiment_a"
  },
  "ai_data": {
    "model": "gpt_4",
    "input": "What is the weather like today?",
    "output": "The weather is sunny and warm.",
    "convo_id": "conv789"
  },
  "attachments": [
    {
        "type": "image",
        "value": "https://example.com/image.png",
        "role": "output"
    },
    {
        "type": "code",
        "name": "Example Code",
        "value": "console.log('Hello, World!');",
        "role": "input",
        "language": "javascript"
    }
  ]
}]"#;

/// The example request of Raindrop's "HTTP API" page ("Track Signal"),
/// unchanged (docs/CONTRACT.md §C9).
const DOC_SIGNAL: &str = r#"[
{
  "event_id": "123456789",
  "signal_name": "thumbs_up",
  "sentiment": "POSITIVE",
  "properties": {
    "location": "chat_ui"
  },
  "signal_type": "default"
}]"#;

/// The example request of Raindrop's "HTTP API" page ("Identify User",
/// docs/CONTRACT.md §C10), without the `//we recommend 'free', 'paid',
/// 'trial'` comment (JSON has no comments).
const DOC_IDENTIFY: &str = r#"{
  "user_id": "user123",
  "traits": {
    "name": "John Doe",
    "email": "john@example.com",
    "age": 30,
    "plan": "paid"
  }
}"#;

#[test]
fn doc_event_example_encodes_every_field() {
    let enc = run(StreamKind::Events, DOC_EVENT).expect("the documented example is accepted");
    assert_eq!((enc.items, enc.truncated, enc.records.len()), (1, 0, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    let row = &rows[0];
    let doc = parse_json(DOC_EVENT);
    let item = &doc[0];
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    // event.rs: "An item without `event_id` gets one here".
    assert!(is_uuid(row.str("event_id")), "{}", row.str("event_id"));
    assert_eq!(row.str("user_id"), "user123");
    assert_eq!(row.str("event"), "ai_interaction");
    // No timestamp: the receive time stands in.
    assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
    assert_eq!(row.str("ai_model"), "gpt_4");
    assert_eq!(row.str("ai_input"), "What is the weather like today?");
    assert_eq!(row.str("ai_output"), "The weather is sunny and warm.");
    assert_eq!(row.str("convo_id"), "conv789");
    assert_eq!(row.json("properties"), item["properties"]);
    assert_eq!(row.json("attachments"), item["attachments"]);
    assert_eq!(row.u8("properties_truncated"), 0);
}

#[test]
fn doc_signal_example_encodes_every_field() {
    let row = one_row(StreamKind::Signals, DOC_SIGNAL);
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    // signal.rs: "Signals carry no id of their own; the edge gives each one".
    assert!(is_uuid(row.str("signal_id")));
    assert_eq!(row.str("event_id"), "123456789");
    assert_eq!(row.str("signal_name"), "thumbs_up");
    assert_eq!(row.str("signal_type"), "default");
    assert_eq!(row.str("sentiment"), "POSITIVE");
    assert_eq!(row.str("attachment_id"), "");
    assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
    assert_eq!(row.json("properties"), json!({"location": "chat_ui"}));
}

#[test]
fn doc_identify_example_as_object_and_as_array() {
    // docs/CONTRACT.md §C10: `{user_id, traits}`, one object or an array of them.
    let traits = parse_json(DOC_IDENTIFY)["traits"].clone();
    for body in [DOC_IDENTIFY.to_string(), format!("[{DOC_IDENTIFY}]")] {
        let enc = run(StreamKind::Users, &body).expect("identify example is accepted");
        assert_eq!(enc.items, 1);
        let rows = decode(StreamKind::Users, &enc.records);
        let row = &rows[0];
        assert_eq!(row.str("org"), ORG);
        assert_eq!(row.str("project"), PROJECT);
        assert_eq!(row.str("user_id"), "user123");
        assert_eq!(row.json("traits"), traits);
        assert_eq!(row.datetime("timestamp"), RECEIVED_SECS);
        assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
        assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
        // sql/0001_init.sql: "The latest identify call wins (version = edge receive time in microseconds)."
        assert_eq!(row.u64("version"), RECEIVED_US);
    }
}

#[test]
fn identify_with_comment_as_in_the_doc_is_not_json() {
    // The doc's example carries a `//` comment; JSON has none, so it is a 400.
    let with_comment = DOC_IDENTIFY.replace(
        "\"plan\": \"paid\"",
        "\"plan\": \"paid\" //we recommend 'free', 'paid', 'trial'",
    );
    assert_refused(StreamKind::Users, &with_comment, 400, "body", "JSON");
}

#[test]
fn identify_python_sdk_array_of_users() {
    let rows = rows_of(
        StreamKind::Users,
        r#"[{"user_id": "u1", "traits": {"plan": "free"}},
            {"user_id": "u2", "traits": null},
            {"user_id": "u3"}]"#,
    );
    let ids: Vec<&str> = rows.iter().map(|r| r.str("user_id")).collect();
    assert_eq!(ids, ["u1", "u2", "u3"]);
    assert_eq!(rows[0].json("traits"), json!({"plan": "free"}));
    assert_eq!(rows[1].json("traits"), json!({}));
    assert_eq!(rows[2].json("traits"), json!({}));
}

// ---------------------------------------------------------------------------
// Events: ids, timestamps, properties, SDK shapes
// ---------------------------------------------------------------------------

#[test]
fn event_ids_are_generated_distinct_and_kept_when_given() {
    let rows = rows_of(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "a"},
            {"user_id": "u", "event": "b", "event_id": null},
            {"user_id": "u", "event": "c", "event_id": "evt-given-1"},
            {"user_id": "u", "event": "d"},
            {"user_id": "u", "event": "e", "event_id": ""}]"#,
    );
    let ids: Vec<&str> = rows.iter().map(|r| r.str("event_id")).collect();
    assert_eq!(ids[2], "evt-given-1");
    for (i, id) in ids.iter().enumerate() {
        assert!(!id.is_empty(), "[{i}] has no event_id");
        if i != 2 {
            assert!(is_uuid(id), "[{i}] generated id {id}");
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids repeat: {ids:?}");
    let events: Vec<&str> = rows.iter().map(|r| r.str("event")).collect();
    assert_eq!(events, ["a", "b", "c", "d", "e"], "rows keep request order");
}

#[test]
fn timestamp_iso_forms_give_seconds_and_milliseconds() {
    // docs/CONTRACT.md §C8: optional `event_id` and `timestamp` (ISO 8601).
    for ts in [
        "2024-01-02T03:04:05.500Z",         // JS toISOString()
        "2024-01-02T04:04:05.500+01:00",    // any offset
        "2024-01-02T03:04:05.500123",       // Python isoformat(), naive = UTC
        "2024-01-02T03:04:05.500123+00:00", // Python aware isoformat()
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "timestamp": "{ts}"}}]"#);
        let row = one_row(StreamKind::Events, &body);
        assert_eq!(row.datetime("timestamp"), 1_704_164_645, "{ts}");
        assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500, "{ts}");
        assert_eq!(row.datetime("received_at"), RECEIVED_SECS, "{ts}");
    }
    let row = one_row(
        StreamKind::Signals,
        r#"[{"event_id": "e", "signal_name": "s", "timestamp": "2024-01-02T03:04:05.500Z"}]"#,
    );
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
    let row = one_row(
        StreamKind::Users,
        r#"{"user_id": "u", "timestamp": "2024-01-02T03:04:05.500Z"}"#,
    );
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
}

#[test]
fn timestamp_range_is_what_datetime_holds() {
    // time.rs: "The range is what ClickHouse's `DateTime` holds: 1970-01-01 to
    // 2106-02-07; outside it is a 400, not a silently wrapped date."
    let body = |ts: &str| format!(r#"[{{"user_id": "u", "event": "e", "timestamp": "{ts}"}}]"#);
    let first = one_row(StreamKind::Events, &body("1970-01-01T00:00:00Z"));
    assert_eq!(
        (first.datetime("timestamp"), first.u64("timestamp_ms")),
        (0, 0)
    );
    let last = one_row(StreamKind::Events, &body("2106-02-07T06:28:15Z"));
    assert_eq!(last.datetime("timestamp"), u32::MAX);
    for ts in [
        "2106-02-07T06:28:16Z",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00Z",
    ] {
        assert_refused(
            StreamKind::Events,
            &body(ts),
            400,
            "[0].timestamp",
            "between",
        );
    }
}

#[test]
fn timestamp_garbage_is_refused() {
    let body = |v: &str| format!(r#"[{{"user_id": "u", "event": "e", "timestamp": {v}}}]"#);
    for v in [
        r#""yesterday""#,
        r#""""#,
        r#""2024-13-01T00:00:00Z""#,
        r#""2024-01-02T03:04:05.500ZZ""#,
        r#""2024-02-30T00:00:00Z""#,
    ] {
        assert_refused(
            StreamKind::Events,
            &body(v),
            400,
            "[0].timestamp",
            "ISO 8601",
        );
    }
    // A number is not an ISO string (epoch seconds are not accepted).
    assert_refused(
        StreamKind::Events,
        &body("1704164645"),
        400,
        "[0].timestamp",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body("{}"),
        400,
        "[0].timestamp",
        "string",
    );
    // null means absent: receive time.
    let row = one_row(StreamKind::Events, &body("null"));
    assert_eq!(row.u64("timestamp_ms"), RECEIVED_MS);
}

#[test]
fn properties_json_round_trips() {
    // Escapes, non-ASCII, numbers at the edges of their types, nesting.
    let properties = r#"{
        "quote\"key": "a \"quoted\" \\ back\\slash\n\t\u0001\u001f end",
        "unicode": "é 中文 😀",
        "escaped_unicode": "\u00e9\ud83d\ude00\u2028",
        "slash": "a/b<\/script>",
        "nested": {"a": [1, -2, 3.5, 1e300, 0.1, 0.30000000000000004, 2.2250738585072014e-308,
                         null, true, false, {"b": [], "c": {}}]},
        "u64max": 18446744073709551615,
        "i64min": -9223372036854775808,
        "zero": 0, "negzero": -0.0, "exp": 12E-3,
        "empty_obj": {}, "empty_arr": [], "empty_str": "",
        "$context": {"library": {"name": "python-sdk", "version": "0.0.75"}}
    }"#;
    let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {properties}}}]"#);
    let row = one_row(StreamKind::Events, &body);
    assert_eq!(row.json("properties"), parse_json(properties));
    assert_eq!(row.u8("properties_truncated"), 0);

    let body = format!(r#"{{"user_id": "u", "traits": {properties}}}"#);
    let row = one_row(StreamKind::Users, &body);
    assert_eq!(row.json("traits"), parse_json(properties));

    let body = format!(r#"[{{"event_id": "e", "signal_name": "s", "properties": {properties}}}]"#);
    let row = one_row(StreamKind::Signals, &body);
    assert_eq!(row.json("properties"), parse_json(properties));
}

#[test]
fn string_fields_are_stored_unescaped() {
    // JSON escapes are decoded before storage; escaped keys are the same keys.
    let row = one_row(
        StreamKind::Events,
        r#"[{"user\u005fid": "u\"1", "event": "chat\n", "event_id": "\u00e9v",
             "ai_data": {"input": "l1\nl2 \"q\" \u00e9 \ud83d\ude00 \\", "output": "\t"}}]"#,
    );
    assert_eq!(row.str("user_id"), "u\"1");
    assert_eq!(row.str("event"), "chat\n");
    assert_eq!(row.str("event_id"), "év");
    assert_eq!(row.str("ai_input"), "l1\nl2 \"q\" é 😀 \\");
    assert_eq!(row.str("ai_output"), "\t");
}

#[test]
fn integers_beyond_64_bits_in_properties_are_accepted() {
    // docs/CONTRACT.md §C8: `properties` is an optional object, any JSON inside;
    // §C20: the real SDKs must work against downpour unmodified. JavaScript's
    // JSON.stringify writes numbers below 1e21 without an exponent, Python's json.dumps writes big ints in full.
    for (text, value) in [
        ("18446744073709552000", 18_446_744_073_709_552_000.0), // JSON.stringify(2 ** 64)
        ("100000000000000000000", 1e20),                        // JSON.stringify(1e20)
        ("18446744073709551616", 18_446_744_073_709_551_616.0), // json.dumps(2 ** 64)
        ("-9223372036854775809", -9_223_372_036_854_775_809.0), // json.dumps(-2 ** 63 - 1)
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {{"n": {text}}}}}]"#);
        let row = one_row(StreamKind::Events, &body);
        let got = row.json("properties")["n"].as_f64();
        assert_eq!(got, Some(value), "{text}");
    }
}

#[test]
fn absent_optional_fields_get_defaults() {
    let row = one_row(StreamKind::Events, r#"[{"user_id": "u", "event": "e"}]"#);
    assert_eq!(row.str("properties"), "{}");
    assert_eq!(row.str("attachments"), "[]");
    for col in ["ai_model", "ai_input", "ai_output", "convo_id"] {
        assert_eq!(row.str(col), "", "{col}");
    }
}

#[test]
fn python_sdk_event_shape_with_nulls() {
    // docs/CONTRACT.md §C20: the Python SDK sends explicit `null`s for absent optional fields.
    let body = r#"[{
        "event_id": "0b8e3c1e-8f0a-4a52-9a43-6d0f2b1f0c11",
        "user_id": "user-42",
        "event": "chat",
        "timestamp": "2024-01-02T03:04:05.500123",
        "properties": {"$context": {"library": {"name": "python-sdk"}}},
        "ai_data": {"model": null, "input": "hi", "output": null, "convo_id": null},
        "attachments": null
    }]"#;
    let row = one_row(StreamKind::Events, body);
    assert_eq!(row.str("event_id"), "0b8e3c1e-8f0a-4a52-9a43-6d0f2b1f0c11");
    assert_eq!(row.str("user_id"), "user-42");
    assert_eq!(row.str("ai_model"), "");
    assert_eq!(row.str("ai_input"), "hi");
    assert_eq!(row.str("ai_output"), "");
    assert_eq!(row.str("convo_id"), "");
    assert_eq!(row.str("attachments"), "[]");
    assert_eq!(row.u64("timestamp_ms"), 1_704_164_645_500);
}

#[test]
fn attachments_with_null_optional_fields_are_kept() {
    // docs/CONTRACT.md §C8: `attachments` is an array of `{type: code|text|image|iframe,
    // value, name?, role?: input|output|context, language?}`.
    let attachments = r#"[
        {"type": "text", "value": "plain", "name": null, "role": null, "language": null},
        {"type": "code", "value": "print(1)", "name": "snippet", "role": "context", "language": "python"},
        {"type": "iframe", "value": "https://example.com", "role": "output"},
        {"type": "image", "value": "data:image/png;base64,AAAA", "role": "input"}
    ]"#;
    let body = format!(r#"[{{"user_id": "u", "event": "e", "attachments": {attachments}}}]"#);
    let row = one_row(StreamKind::Events, &body);
    assert_eq!(row.json("attachments"), parse_json(attachments));
    let row = one_row(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e", "attachments": []}]"#,
    );
    assert_eq!(row.json("attachments"), json!([]));
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

#[test]
fn python_sdk_signal_with_explicit_nulls() {
    // docs/CONTRACT.md §C9, §C20: the Python SDK's `signals/track` has explicit `null`s
    // for absent optional fields.
    let rows = rows_of(
        StreamKind::Signals,
        r#"[{"event_id": "evt-1", "signal_name": "thumbs_down", "timestamp": null,
             "properties": null, "attachment_id": null, "signal_type": null, "sentiment": null},
            {"event_id": "evt-1", "signal_name": "edit", "timestamp": "2024-01-02T03:04:05.500Z",
             "properties": {"after": "x"}, "attachment_id": "att-9", "signal_type": "edit",
             "sentiment": "NEGATIVE"}]"#,
    );
    let a = &rows[0];
    assert_eq!(a.str("event_id"), "evt-1");
    assert_eq!(a.str("signal_name"), "thumbs_down");
    assert_eq!(a.str("signal_type"), "default");
    assert_eq!(a.str("sentiment"), "");
    assert_eq!(a.str("attachment_id"), "");
    assert_eq!(a.str("properties"), "{}");
    assert_eq!(a.u64("timestamp_ms"), RECEIVED_MS);
    let b = &rows[1];
    assert_eq!(b.str("signal_type"), "edit");
    assert_eq!(b.str("sentiment"), "NEGATIVE");
    assert_eq!(b.str("attachment_id"), "att-9");
    assert_eq!(b.json("properties"), json!({"after": "x"}));
    assert_eq!(b.u64("timestamp_ms"), 1_704_164_645_500);
    assert_ne!(a.str("signal_id"), b.str("signal_id"));
}

#[test]
fn signal_enums_are_exact() {
    // docs/CONTRACT.md §C9: `signal_type` is exactly "default", "feedback", "edit" or
    // "standard"; `sentiment` exactly "POSITIVE" or "NEGATIVE"; both optional.
    for t in ["default", "feedback", "edit", "standard"] {
        let body = format!(r#"[{{"event_id": "e", "signal_name": "s", "signal_type": "{t}"}}]"#);
        assert_eq!(one_row(StreamKind::Signals, &body).str("signal_type"), t);
    }
    let sig = |field: &str, v: &str| {
        format!(r#"[{{"event_id": "e", "signal_name": "s", "{field}": {v}}}]"#)
    };
    for v in [r#""positive""#, r#""Positive""#, r#""NEUTRAL""#, r#""""#] {
        assert_refused(
            StreamKind::Signals,
            &sig("sentiment", v),
            400,
            "[0].sentiment",
            "POSITIVE",
        );
    }
    for v in [r#""thumbs""#, r#""DEFAULT""#, r#""""#] {
        assert_refused(
            StreamKind::Signals,
            &sig("signal_type", v),
            400,
            "[0].signal_type",
            "feedback",
        );
    }
    assert_refused(
        StreamKind::Signals,
        &sig("sentiment", "1"),
        400,
        "[0].sentiment",
        "string",
    );
    assert_refused(
        StreamKind::Signals,
        &sig("attachment_id", "7"),
        400,
        "[0].attachment_id",
        "string",
    );
}

#[test]
fn signal_required_fields() {
    // docs/CONTRACT.md §C9: every signal names the `event_id` of an event; `signal_name` required.
    assert_refused(
        StreamKind::Signals,
        r#"[{"signal_name": "s"}]"#,
        400,
        "[0].event_id",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": null, "signal_name": "s"}]"#,
        400,
        "[0].event_id",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": "e"}]"#,
        400,
        "[0].signal_name",
        "required",
    );
    assert_refused(
        StreamKind::Signals,
        r#"[{"event_id": "e", "signal_name": "s", "properties": [1]}]"#,
        400,
        "[0].properties",
        "object",
    );
}

// ---------------------------------------------------------------------------
// Partial events
// ---------------------------------------------------------------------------

#[test]
fn partial_single_object_patch() {
    // docs/CONTRACT.md §C20: the Python SDK posts `events/track_partial` as a single object.
    let row = one_row(
        StreamKind::PartialEvents,
        r#"{"event_id": "e1", "ai_data": {"output": "x"}, "properties": {"step": 2}, "is_pending": false}"#,
    );
    assert_eq!(row.str("org"), ORG);
    assert_eq!(row.str("project"), PROJECT);
    assert_eq!(row.str("event_id"), "e1");
    assert!(is_uuid(row.str("patch_id")));
    // partial.rs: "later patches carry only what changed, so every content field is optional".
    assert_eq!(row.str("user_id"), "");
    assert_eq!(row.str("event"), "");
    assert_eq!(row.str("ai_input"), "");
    assert_eq!(row.str("ai_output"), "x");
    assert_eq!(row.json("properties"), json!({"step": 2}));
    // sql/0001_init.sql: "Empty strings mean "not in this patch"".
    assert_eq!(row.str("attachments"), "");
    assert_eq!(row.u8("properties_truncated"), 0);
    assert_eq!(row.u8("is_pending"), 0);
    assert_eq!(row.u64("seq"), RECEIVED_US);
    assert_eq!(row.datetime("received_at"), RECEIVED_SECS);
}

#[test]
fn partial_without_is_pending_is_pending() {
    // docs/CONTRACT.md §C11: `is_pending` is true until the final patch, and a patch
    // without `is_pending` counts as pending.
    for body in [
        r#"{"event_id": "e1", "user_id": "u", "event": "chat", "ai_data": {"input": "q"}}"#,
        r#"{"event_id": "e1", "is_pending": null}"#,
    ] {
        let row = one_row(StreamKind::PartialEvents, body);
        assert_eq!(row.u8("is_pending"), 1, "{body}");
        assert_eq!(
            row.str("properties"),
            "",
            "absent properties are not in this patch"
        );
    }
    let row = one_row(
        StreamKind::PartialEvents,
        r#"{"event_id": "e1", "is_pending": true}"#,
    );
    assert_eq!(row.u8("is_pending"), 1);
}

#[test]
fn partial_patches_in_one_request_are_ordered() {
    let rows = rows_of(
        StreamKind::PartialEvents,
        r#"[{"event_id": "e1", "ai_data": {"input": "q"}},
            {"event_id": "e1", "ai_data": {"model": "m"}},
            {"event_id": "e1", "ai_data": {"output": "a"}, "is_pending": false}]"#,
    );
    let seqs: Vec<u64> = rows.iter().map(|r| r.u64("seq")).collect();
    assert_eq!(seqs, [RECEIVED_US, RECEIVED_US + 1, RECEIVED_US + 2]);
    assert_ne!(rows[0].str("patch_id"), rows[1].str("patch_id"));
    assert_ne!(rows[1].str("patch_id"), rows[2].str("patch_id"));
    assert_eq!(rows[1].str("ai_model"), "m");
}

#[test]
fn partial_requires_event_id() {
    // docs/CONTRACT.md §C11: patches merge by `event_id`, which is always required.
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"ai_data": {"output": "x"}, "is_pending": false}"#,
        400,
        "event_id",
        "required",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"[{"event_id": "e"}, {"event_id": null}]"#,
        400,
        "[1].event_id",
        "required",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"event_id": ""}"#,
        400,
        "event_id",
        "empty",
    );
    assert_refused(
        StreamKind::PartialEvents,
        r#"{"event_id": "e", "is_pending": "no"}"#,
        400,
        "is_pending",
        "true or false",
    );
}

// ---------------------------------------------------------------------------
// Refusals: exact params
// ---------------------------------------------------------------------------

#[test]
fn event_required_fields_name_the_item() {
    // docs/CONTRACT.md §C8: `user_id` and `event` are required (the source marks every
    // other field "(Optional)", not these two).
    assert_refused(
        StreamKind::Events,
        r#"[{"event": "e"}]"#,
        400,
        "[0].user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": null, "event": "e"}]"#,
        400,
        "[0].user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "", "event": "e"}]"#,
        400,
        "[0].user_id",
        "empty",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": 42, "event": "e"}]"#,
        400,
        "[0].user_id",
        "must be a string",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e"}, {"user_id": "u", "event": 7}]"#,
        400,
        "[1].event",
        "must be a string",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u"}]"#,
        400,
        "[0].event",
        "required",
    );
    // A single object body has no index.
    assert_refused(
        StreamKind::Events,
        r#"{"event": "e"}"#,
        400,
        "user_id",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e"}, "x"]"#,
        400,
        "[1]",
        "object",
    );
}

#[test]
fn ids_are_bounded() {
    let ok = "u".repeat(fields::MAX_ID_BYTES);
    let long = "u".repeat(fields::MAX_ID_BYTES + 1);
    let body = |id: &str| format!(r#"[{{"user_id": "{id}", "event": "e"}}]"#);
    assert_eq!(one_row(StreamKind::Events, &body(&ok)).str("user_id"), ok);
    assert_refused(
        StreamKind::Events,
        &body(&long),
        400,
        "[0].user_id",
        "longer",
    );
    let body = format!(r#"[{{"user_id": "u", "event": "e", "event_id": "{long}"}}]"#);
    assert_refused(StreamKind::Events, &body, 400, "[0].event_id", "longer");
}

#[test]
fn ai_data_needs_input_or_output() {
    // docs/CONTRACT.md §C8: an `ai_data` that is present needs `input` or `output` (or both).
    for ai in [
        "{}",
        r#"{"model": "gpt"}"#,
        r#"{"model": "gpt", "convo_id": "c"}"#,
        r#"{"input": null, "output": null}"#,
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {ai}}}]"#);
        assert_refused(
            StreamKind::Events,
            &body,
            400,
            "[0].ai_data",
            "input or output",
        );
    }
    for (ai, input, output) in [
        (r#"{"input": "q"}"#, "q", ""),
        (r#"{"output": "a"}"#, "", "a"),
        (r#"{"input": "q", "output": "a"}"#, "q", "a"),
    ] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {ai}}}]"#);
        let row = one_row(StreamKind::Events, &body);
        assert_eq!((row.str("ai_input"), row.str("ai_output")), (input, output));
    }
    // ai_data: null is absent, so nothing is required of it (docs/CONTRACT.md §C8).
    one_row(
        StreamKind::Events,
        r#"[{"user_id": "u", "event": "e", "ai_data": null}]"#,
    );
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": "text"}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data", "object");
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": {"input": 1}}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data.input", "string");
    let body = r#"[{"user_id": "u", "event": "e", "ai_data": {"output": "a", "model": []}}]"#;
    assert_refused(StreamKind::Events, body, 400, "[0].ai_data.model", "string");
}

#[test]
fn attachment_errors_name_the_attachment() {
    // docs/CONTRACT.md §C8: `{type: code|text|image|iframe, value, name?, role?: input|output|context, language?}`.
    let body = |a: &str| format!(r#"[{{"user_id": "u", "event": "e", "attachments": {a}}}]"#);
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "video", "value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "code, text, image, iframe",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": 3, "value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"value": "x"}]"#),
        400,
        "[0].attachments[0].type",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        &body(
            r#"[{"type": "text", "value": "x"}, {"type": "text", "value": "y", "role": "assistant"}]"#,
        ),
        400,
        "[0].attachments[1].role",
        "input, output, context",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "text"}]"#),
        400,
        "[0].attachments[0].value",
        "required",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "text", "value": {"a": 1}}]"#),
        400,
        "[0].attachments[0].value",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"[{"type": "code", "value": "x", "language": 5}]"#),
        400,
        "[0].attachments[0].language",
        "string",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"["x"]"#),
        400,
        "[0].attachments[0]",
        "object",
    );
    assert_refused(
        StreamKind::Events,
        &body(r#"{"type": "text"}"#),
        400,
        "[0].attachments",
        "array",
    );
}

#[test]
fn properties_and_traits_must_be_objects() {
    // docs/CONTRACT.md §C8, §C10: `properties` and `traits` are objects.
    for v in ["[1, 2]", r#""text""#, "3", "true"] {
        let body = format!(r#"[{{"user_id": "u", "event": "e", "properties": {v}}}]"#);
        assert_refused(StreamKind::Events, &body, 400, "[0].properties", "object");
        let body = format!(r#"[{{"user_id": "u", "traits": {v}}}]"#);
        assert_refused(StreamKind::Users, &body, 400, "[0].traits", "object");
    }
}

#[test]
fn malformed_bodies_are_400_body() {
    for kind in ALL_KINDS {
        for body in [
            &b""[..],
            b"   ",
            b"not json",
            b"[{\"user_id\": \"u\",",
            b"[{\"user_id\": \"u\"}",
            b"[{\"user_id\": \"u\"}]]",
            b"[{\"user_id\": \"u\"}] trailing",
            b"[{'user_id': 'u'}]",
            b"[{\"user_id\": \"u\",}]",
            b"[{\"user_id\": \"\xff\xfe\", \"event\": \"e\"}]",
            b"[{\"user_id\": \"\xc0\xaf\", \"event\": \"e\"}]",
            b"[{\"user_id\": \"\xed\xa0\x80\", \"event\": \"e\"}]",
            b"\xef\xbb\xbf\xff",
        ] {
            let e = refused_bytes(kind, &limits(kind), body);
            assert_eq!(
                (e.status, e.param.as_str()),
                (400, "body"),
                "{kind:?} {body:?}"
            );
        }
        for body in ["42", "\"a string\"", "null", "true", "1.5"] {
            let e = refused(kind, body);
            assert_eq!(
                (e.status, e.param.as_str()),
                (400, "body"),
                "{kind:?} {body}"
            );
            assert!(e.reason.contains("array"), "{e:?}");
        }
        let e = refused(kind, "[]");
        assert_eq!((e.status, e.param.as_str()), (400, "body"));
        assert!(e.reason.contains("at least one"), "{e:?}");
        let e = refused(kind, "[1]");
        assert_eq!((e.status, e.param.as_str()), (400, "[0]"));
    }
}

#[test]
fn lone_surrogate_escape_is_refused_or_stored_as_utf8() {
    // JSON allows `\ud800` syntactically; whatever the parser does, the row
    // must hold valid UTF-8 (the reader checks) and nothing may panic.
    let body = r#"[{"user_id": "u\ud800", "event": "e\udc00x"}]"#;
    match run(StreamKind::Events, body) {
        Ok(enc) => {
            decode(StreamKind::Events, &enc.records);
        }
        Err(e) => assert_eq!(e.status, 400, "{e:?}"),
    }
}

#[test]
fn item_count_is_limited() {
    let three = r#"[{"user_id": "u", "event": "e"}, {"user_id": "u", "event": "e"}, {"user_id": "u", "event": "e"}]"#;
    let few = Limits {
        max_items: 3,
        max_item_bytes: 1 << 20,
    };
    assert_eq!(
        run_with(StreamKind::Events, &few, three.as_bytes())
            .expect("at the limit")
            .items,
        3
    );
    let four = three.replacen('[', r#"[{"user_id": "u", "event": "e"}, "#, 1);
    let e = refused_bytes(StreamKind::Events, &few, four.as_bytes());
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    assert!(e.reason.contains("at most 3"), "{e:?}");

    // The configured limit (pipelines/events.toml: max_items = 10000).
    let max = limits(StreamKind::Events).max_items;
    let item = r#"{"user_id": "u", "event": "e"}"#;
    let body = format!("[{}]", vec![item; max + 1].join(","));
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    assert!(e.reason.contains(&max.to_string()), "{e:?}");
    let body = format!("[{}]", vec![item; max].join(","));
    let enc = run(StreamKind::Events, &body).expect("exactly max_items is accepted");
    assert_eq!(enc.items, max);
    assert_eq!(decode(StreamKind::Events, &enc.records).len(), max);
}

#[test]
fn deep_nesting_is_400_not_a_panic() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for kind in ALL_KINDS {
        for n in [65, 1_000, 10_000, 100_000] {
            let e = refused(kind, &deep(n));
            assert_eq!((e.status, e.param.as_str()), (400, "body"), "{n}: {e:?}");
            assert!(e.reason.contains("nested"), "{n}: {e:?}");
        }
        // Unbalanced: not JSON at all.
        let e = refused(kind, &"[".repeat(10_000));
        assert_eq!((e.status, e.param.as_str()), (400, "body"));
        // Deep objects too.
        let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        let e = refused(kind, &objects);
        assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    }
    // MAX_DEPTH levels pass the depth check (then fail as not-an-object).
    let e = refused(StreamKind::Events, &deep(MAX_DEPTH));
    assert_eq!(e.param, "[0]", "{e:?}");

    // Inside properties.
    let props = |n: usize| {
        format!(
            r#"[{{"user_id": "u", "event": "e", "properties": {{"deep": {}}}}}]"#,
            deep(n)
        )
    };
    let e = refused(StreamKind::Events, &props(10_000));
    assert_eq!((e.status, e.param.as_str()), (400, "body"), "{e:?}");
    // array(1) > item(2) > properties(3) > "deep": MAX_DEPTH - 3 more levels fit.
    let row = one_row(StreamKind::Events, &props(MAX_DEPTH - 3));
    assert_eq!(
        row.json("properties"),
        parse_json(&props(MAX_DEPTH - 3))[0]["properties"]
    );
    assert_eq!(
        refused(StreamKind::Events, &props(MAX_DEPTH - 2)).param,
        "body"
    );
}

#[test]
fn one_bad_item_refuses_the_whole_request() {
    // mod.rs: "The request is accepted whole or refused whole".
    let mut items: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"user_id": "u{i}", "event": "e"}}"#))
        .collect();
    items[4] = r#"{"user_id": "u4"}"#.to_string();
    let body = format!("[{}]", items.join(","));
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (400, "[4].event"));

    // The first bad item is the one named.
    items[2] = r#"{"event": "e"}"#.to_string();
    let body = format!("[{}]", items.join(","));
    assert_eq!(refused(StreamKind::Events, &body).param, "[2].user_id");

    // A 413 on item 5 of 6 refuses the request too.
    let mut items: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"user_id": "u{i}", "event": "e"}}"#))
        .collect();
    items[4] = format!(
        r#"{{"user_id": "u", "event": "e", "ai_data": {{"input": "{}"}}}}"#,
        "x".repeat(5000)
    );
    let body = format!("[{}]", items.join(","));
    let e = refused_bytes(StreamKind::Events, &small_limits(4096), body.as_bytes());
    assert_eq!((e.status, e.param.as_str()), (413, "[4]"));
}

// ---------------------------------------------------------------------------
// Size limits and truncation
// ---------------------------------------------------------------------------

fn many_keys(n: usize, value_len: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| format!(r#""k{i:05}": "{}""#, "v".repeat(value_len)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Checks a truncated properties column: valid JSON, marked, and keeps a
/// prefix of the original keys in order (at least `min_kept` of them).
#[track_caller]
fn assert_truncated_prefix(text: &str, original: &Json, min_kept: usize) {
    let got = parse_json(text);
    let got = got.as_object().expect("properties stay an object");
    assert_eq!(got.get(fields::TRUNCATED_MARK), Some(&json!(true)));
    let original = original.as_object().expect("object");
    let kept: Vec<&String> = got
        .keys()
        .filter(|k| *k != fields::TRUNCATED_MARK)
        .collect();
    assert!(
        kept.len() >= min_kept,
        "only {} keys kept of {}",
        kept.len(),
        original.len()
    );
    assert!(kept.len() < original.len(), "nothing was cut");
    for (k, want) in kept.iter().zip(original.keys()) {
        assert_eq!(*k, want, "kept keys are the first ones, in order");
        assert_eq!(
            got[k.as_str()],
            original[k.as_str()],
            "kept values are whole"
        );
    }
}

#[test]
fn oversized_properties_are_truncated_not_refused() {
    // docs/CONTRACT.md §C12: an event over the 1 MB limit has its properties
    // truncated; the request is not refused.
    let limit = 4096;
    let props = many_keys(100, 100);
    let body = format!(
        r#"[{{"user_id": "u", "event": "small", "properties": {{"a": 1}}}},
            {{"user_id": "u", "event": "big", "ai_data": {{"input": "q"}}, "properties": {props}}}]"#
    );
    let enc = run_with(StreamKind::Events, &small_limits(limit), body.as_bytes())
        .expect("truncated, not refused");
    assert_eq!((enc.items, enc.truncated), (2, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    assert_eq!(rows[0].u8("properties_truncated"), 0);
    assert_eq!(rows[0].json("properties"), json!({"a": 1}));
    let big = &rows[1];
    assert!(big.len <= limit, "row is {} bytes, limit {limit}", big.len);
    assert_eq!(big.u8("properties_truncated"), 1);
    assert_eq!(big.str("event"), "big");
    assert_eq!(big.str("ai_input"), "q");
    // ~110 bytes per entry in a ~4 KB budget: most of the budget is used.
    assert_truncated_prefix(big.str("properties"), &parse_json(&props), 25);
}

#[test]
fn truncation_applies_to_signals_users_and_partials() {
    let limit = 4096;
    let props = many_keys(100, 100);
    let original = parse_json(&props);
    let cases = [
        (
            StreamKind::Signals,
            format!(r#"[{{"event_id": "e", "signal_name": "s", "properties": {props}}}]"#),
            "properties",
        ),
        (
            StreamKind::Users,
            format!(r#"{{"user_id": "u", "traits": {props}}}"#),
            "traits",
        ),
        (
            StreamKind::PartialEvents,
            format!(r#"{{"event_id": "e", "properties": {props}}}"#),
            "properties",
        ),
    ];
    for (kind, body, column) in cases {
        let enc = run_with(kind, &small_limits(limit), body.as_bytes())
            .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        assert_eq!(enc.truncated, 1, "{kind:?}");
        let rows = decode(kind, &enc.records);
        assert!(rows[0].len <= limit, "{kind:?}: {} bytes", rows[0].len);
        assert_truncated_prefix(rows[0].str(column), &original, 25);
        if kind == StreamKind::PartialEvents {
            assert_eq!(rows[0].u8("properties_truncated"), 1);
        }
    }
}

#[test]
fn real_limit_truncates_a_one_and_a_half_megabyte_event() {
    let limits = limits(StreamKind::Events);
    assert_eq!(
        limits.max_item_bytes, 1_048_576,
        "pipelines/events.toml: 1 MB"
    );
    // 1,500 keys of ~1 KB: ~1.5 MB of properties.
    let props = many_keys(1500, 1000);
    assert!(props.len() > 1_500_000);
    let body = format!(
        r#"[{{"user_id": "u", "event": "e", "event_id": "big-1", "properties": {props}}}]"#
    );
    let enc =
        run_with(StreamKind::Events, &limits, body.as_bytes()).expect("truncated, not refused");
    assert_eq!((enc.items, enc.truncated), (1, 1));
    let rows = decode(StreamKind::Events, &enc.records);
    let row = &rows[0];
    assert!(row.len <= limits.max_item_bytes, "row is {} bytes", row.len);
    assert!(row.len > 1_000_000, "the budget is used: {} bytes", row.len);
    assert_eq!(row.str("event_id"), "big-1");
    assert_eq!(row.u8("properties_truncated"), 1);
    assert_truncated_prefix(row.str("properties"), &parse_json(&props), 1000);
}

#[test]
fn an_item_too_large_without_properties_is_413() {
    // Truncating properties cannot help: the item is refused, named.
    let limit = 4096;
    let input = "x".repeat(5000);
    for body in [
        format!(r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}}}]"#),
        format!(
            r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}, "properties": {{"a": 1}}}}]"#
        ),
    ] {
        let e = refused_bytes(StreamKind::Events, &small_limits(limit), body.as_bytes());
        assert_eq!((e.status, e.param.as_str()), (413, "[0]"), "{e:?}");
    }
    // The same at the real 1 MB limit.
    let input = "x".repeat(1_100_000);
    let body = format!(
        r#"[{{"user_id": "u", "event": "e", "ai_data": {{"input": "{input}"}}, "properties": {{"a": 1}}}}]"#
    );
    let e = refused(StreamKind::Events, &body);
    assert_eq!((e.status, e.param.as_str()), (413, "[0]"), "{e:?}");
    let body = format!(r#"{{"event_id": "e", "ai_data": {{"output": "{input}"}}}}"#);
    let e = refused(StreamKind::PartialEvents, &body);
    assert_eq!((e.status, e.param.as_str()), (413, "body"), "{e:?}");
}

#[test]
fn large_requests_split_into_records() {
    // mod.rs: "A record is closed once it holds this many bytes (one event may overshoot it)."
    let n = 30;
    let input = "i".repeat(100_000);
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"user_id": "u{i}", "event": "e", "ai_data": {{"input": "{input}"}}}}"#)
        })
        .collect();
    let body = format!("[{}]", items.join(","));
    let enc = run(StreamKind::Events, &body).expect("accepted");
    assert_eq!(enc.items, n);
    assert!(enc.records.len() >= 5, "{} records", enc.records.len());
    let mut total = 0u32;
    for (i, rec) in enc.records.iter().enumerate() {
        assert_eq!(rec[0], 0xD0, "record {i} magic");
        let view = record::parse(rec, StreamKind::Events).expect("valid record");
        assert!(view.rows > 0);
        total += view.rows;
        if i + 1 < enc.records.len() {
            assert!(rec.len() >= RECORD_TARGET_BYTES, "record {i} closed early");
            assert!(
                rec.len() < RECORD_TARGET_BYTES + 110_000,
                "record {i} overshoots by more than one event: {}",
                rec.len()
            );
        }
    }
    assert_eq!(total as usize, n);
    let rows = decode(StreamKind::Events, &enc.records);
    let users: Vec<String> = rows.iter().map(|r| r.str("user_id").to_string()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    assert_eq!(users, want, "rows stay in request order across records");
    assert!(rows.iter().all(|r| r.str("ai_input") == input));
}

#[test]
fn every_kind_writes_its_own_header() {
    let bodies = [
        (StreamKind::Events, r#"[{"user_id": "u", "event": "e"}]"#),
        (
            StreamKind::Signals,
            r#"[{"event_id": "e", "signal_name": "s"}]"#,
        ),
        (StreamKind::Users, r#"{"user_id": "u"}"#),
        (StreamKind::PartialEvents, r#"{"event_id": "e"}"#),
    ];
    for (kind, body) in bodies {
        let enc = run(kind, body).expect("accepted");
        assert_eq!(enc.records.len(), 1);
        let rec = &enc.records[0];
        assert_eq!(&rec[..3], &[0xD0, record::VERSION, kind.tag()], "{kind:?}");
        assert_eq!(&rec[3..7], &1u32.to_le_bytes(), "{kind:?}");
        decode(kind, &enc.records);
    }
}

// ---------------------------------------------------------------------------
// Mini-fuzz
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `body` against `kind`: it must not panic, and the result must be a
/// decodable encoding or a 400/413 naming something.
fn check_never_panics(kind: StreamKind, limits: &Limits, body: &[u8]) -> Result<(), String> {
    let mut bytes = body.to_vec();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode(kind, limits, &mut bytes, &env())
    }));
    let shown = || String::from_utf8_lossy(body).into_owned();
    match result {
        Err(_) => Err(format!("{kind:?} panicked on {:?}", shown())),
        Ok(Err(e)) => {
            if (e.status == 400 || e.status == 413) && !e.param.is_empty() && !e.reason.is_empty() {
                Ok(())
            } else {
                Err(format!("{kind:?} bad refusal {e:?} on {:?}", shown()))
            }
        }
        Ok(Ok(enc)) => {
            let decoded = std::panic::catch_unwind(|| decode(kind, &enc.records));
            match decoded {
                Ok(rows) if rows.len() == enc.items && enc.items > 0 => Ok(()),
                Ok(rows) => Err(format!(
                    "{kind:?} {} rows for {} items on {:?}",
                    rows.len(),
                    enc.items,
                    shown()
                )),
                Err(_) => Err(format!("{kind:?} undecodable rows on {:?}", shown())),
            }
        }
    }
}

#[test]
fn mutated_bodies_never_panic() {
    let seeds: [(StreamKind, &str); 5] = [
        (
            StreamKind::Events,
            r#"[{"user_id":"u1","event":"e","event_id":"x","timestamp":"2024-01-02T03:04:05.5Z","properties":{"a":[1,2.5,null],"b":{"c":"d"}},"ai_data":{"model":"m","input":"i","output":"o","convo_id":"c"},"attachments":[{"type":"code","value":"v","name":null,"role":"input","language":"py"}]}]"#,
        ),
        (
            StreamKind::Signals,
            r#"[{"event_id":"e1","signal_name":"thumbs_up","sentiment":"POSITIVE","signal_type":"feedback","attachment_id":null,"properties":{"k":"v"}}]"#,
        ),
        (
            StreamKind::Users,
            r#"[{"user_id":"u1","traits":{"name":"J\u00e9","age":30,"tags":["a","b"]}}]"#,
        ),
        (
            StreamKind::PartialEvents,
            r#"{"event_id":"e1","ai_data":{"output":"x"},"properties":{"step":2},"is_pending":false}"#,
        ),
        (StreamKind::Events, DOC_EVENT),
    ];
    let garbage: [&[u8]; 16] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b",",
        b":",
        b"null",
        b"-1e999",
        b"\xff",
        b"\xe2\x82",
        b"\\ud800",
        b"\x00",
        b"[[[[[[[[",
        b"18446744073709551616",
    ];
    // A small item limit too, so truncation and 413 paths get mutated input.
    let tight = small_limits(200);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let mut runs = 0usize;
    let mut check = |kind: StreamKind, body: &[u8], runs: &mut usize| {
        for lim in [limits(kind), tight.clone()] {
            *runs += 1;
            if let Err(f) = check_never_panics(kind, &lim, body) {
                failures.push(f);
            }
        }
    };
    for (kind, seed) in seeds {
        let seed = seed.as_bytes();
        check(kind, seed, &mut runs);
        // Truncation at every position of the short seeds.
        if seed.len() < 400 {
            for cut in 0..seed.len() {
                check(kind, &seed[..cut], &mut runs);
            }
        }
        for _ in 0..150 {
            // Byte flips.
            let mut b = seed.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            check(kind, &b, &mut runs);
            // Random bytes.
            let mut b = seed.to_vec();
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
            check(kind, &b, &mut runs);
            // Inserted garbage.
            let mut b = seed.to_vec();
            let at = rng.below(b.len() + 1);
            let g = garbage[rng.below(garbage.len())];
            b.splice(at..at, g.iter().copied());
            check(kind, &b, &mut runs);
            // The same seed under another endpoint.
            let other = ALL_KINDS[rng.below(ALL_KINDS.len())];
            check(other, &b, &mut runs);
        }
    }
    assert!(runs >= 2000, "only {runs} runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[test]
fn a_retried_identical_request_gets_the_same_ids() {
    // A client that got a 503 for a partly acknowledged request sends it again
    // (the Python SDK retries 5xx); items without ids must collapse, not double.
    let body = r#"[{"user_id": "u", "event": "e", "timestamp": "2026-11-23T20:06:38Z"},
                   {"user_id": "u", "event": "e", "timestamp": "2026-11-23T20:06:38Z"}]"#;
    let ids = |received_us: u64| -> Vec<String> {
        let env = Envelope {
            received_us,
            ..env()
        };
        let mut bytes = body.as_bytes().to_vec();
        let encoded = encode(
            StreamKind::Events,
            &limits(StreamKind::Events),
            &mut bytes,
            &env,
        )
        .expect("valid");
        decode(StreamKind::Events, &encoded.records)
            .iter()
            .map(|r| r.str("event_id").to_string())
            .collect()
    };
    let first = ids(1_000_000);
    assert_eq!(first, ids(9_000_000), "same request later: same ids");
    assert_ne!(
        first[0], first[1],
        "identical items of one request stay two events"
    );
    assert!(first.iter().all(|id| is_uuid(id)));

    let signals =
        r#"[{"event_id": "x", "signal_name": "thumbs_up", "timestamp": "2026-11-23T20:06:38Z"}]"#;
    let signal_id = |received_us: u64| {
        let env = Envelope {
            received_us,
            ..env()
        };
        let mut bytes = signals.as_bytes().to_vec();
        let encoded = encode(
            StreamKind::Signals,
            &limits(StreamKind::Signals),
            &mut bytes,
            &env,
        )
        .expect("valid");
        decode(StreamKind::Signals, &encoded.records)[0]
            .str("signal_id")
            .to_string()
    };
    assert_eq!(signal_id(1), signal_id(2));

    // Without a timestamp the item could be a new event with the same content: random ids.
    let untimed = r#"[{"user_id": "u", "event": "e"}]"#;
    assert_ne!(
        one_row(StreamKind::Events, untimed).str("event_id"),
        one_row(StreamKind::Events, untimed).str("event_id")
    );
}
