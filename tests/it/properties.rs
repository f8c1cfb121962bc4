//! Property tests of the parse path (`edge::validate::encode`, as the bench
//! calls it) and, with few cases, of the running edge over HTTP.
//!
//! Inputs: arbitrary bytes, arbitrary JSON, and near-valid SDK payloads (a
//! valid batch with one field of one item removed, nulled, mistyped or
//! oversized). Properties: nothing panics; a request is accepted whole, as
//! records holding exactly one row per item, or refused whole with a 400/413
//! whose `param` names the item and field (for near-valid payloads: the
//! mutated item, and for clear cases the exact field). Over HTTP: never a
//! 5xx, and ClickHouse ends with exactly the accepted items.
//!
//! Case counts come from `PROPTEST_CASES` (default [`DEFAULT_CASES`], and an
//! eighth of it over HTTP), sized to keep this file under ~20 s on two cores.
//! Failures are not persisted to files: a failure found here becomes a named
//! regression test at the end of this file.

use std::cell::Cell;
use std::collections::BTreeMap;

use downpour::bus::record;
use downpour::edge::validate::{Envelope, Invalid, encode};
use downpour::pipeline::{self, Limits, StreamKind};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Cases per property when `PROPTEST_CASES` is unset.
const DEFAULT_CASES: u32 = 1024;

const KINDS: [StreamKind; 4] = StreamKind::JSON;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn limits(kind: StreamKind) -> Limits {
    pipeline::load(None)
        .expect("built-in pipelines")
        .into_iter()
        .find(|p| p.kind == kind)
        .expect("a pipeline per kind")
        .limits
}

/// Runs the parse path and checks the outcome's shape: `Ok` holds records of
/// `kind` with one row per item; `Err` is a 400/413 whose param names the
/// body, an item (`[i]…` with `i` in range) or a field of a single object.
fn check(kind: StreamKind, body: &[u8]) -> Result<usize, Invalid> {
    let env = Envelope {
        redaction: None,
        retention: downpour::registry::projects::Retention::DEFAULT,
        org: "org",
        project: "default",
        received_us: 1_700_000_000_000_000,
    };
    let mut bytes = body.to_vec();
    let result = encode(kind, &limits(kind), &mut bytes, &env);
    match &result {
        Ok(enc) => {
            assert!(enc.items > 0, "accepted an empty request");
            let rows: u32 = enc
                .records
                .iter()
                .map(|r| record::parse(r, kind).expect("record header").rows)
                .sum();
            assert_eq!(rows as usize, enc.items, "one row per item");
        }
        Err(e) => {
            assert!(e.status == 400 || e.status == 413, "{e:?}");
            assert!(!e.reason.is_empty(), "{e:?}");
            assert!(names_something(&e.param), "{e:?}");
            assert_eq!(e.message(), format!("{}: {}", e.param, e.reason));
        }
    }
    result.map(|enc| enc.items)
}

/// `body`, `[3]`, `[3].user_id`, `[3].attachments[0].value`, or `user_id`.
fn names_something(param: &str) -> bool {
    if param == "body" {
        return true;
    }
    if let Some(rest) = param.strip_prefix('[') {
        let Some((index, field)) = rest.split_once(']') else {
            return false;
        };
        return index.parse::<usize>().is_ok() && (field.is_empty() || field.starts_with('.'));
    }
    param.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Field names the validators look at, so generated objects hit them.
const NAMES: [&str; 16] = [
    "user_id",
    "event",
    "event_id",
    "timestamp",
    "properties",
    "attachments",
    "ai_data",
    "input",
    "output",
    "signal_name",
    "sentiment",
    "traits",
    "is_pending",
    "type",
    "value",
    "$truncated",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&NAMES[..]).prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
}

/// Arbitrary JSON, biased towards the shapes and names the API uses.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,16}".prop_map(Value::from),
        Just(Value::from("2024-01-02T03:04:05Z")),
        Just(Value::from("POSITIVE")),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One valid item of `kind`, numbered `n`.
fn valid_item(kind: StreamKind, n: usize) -> Value {
    match kind {
        StreamKind::Events => json!({
            "event_id": format!("ev-{n}"), "user_id": format!("u{n}"), "event": "chat_message",
            "timestamp": "2024-01-02T03:04:05.500123", "properties": {"plan": "paid", "n": n},
            "attachments": [{"type": "code", "value": "print(1)", "role": "input"}],
            "ai_data": {"model": "m", "input": "q", "output": "a", "convo_id": "c"}
        }),
        StreamKind::Signals => json!({
            "event_id": format!("ev-{n}"), "signal_name": "thumbs_up", "timestamp": "2024-01-02T03:04:05Z",
            "properties": {"where": "chat"}, "attachment_id": "a1", "signal_type": "feedback",
            "sentiment": "POSITIVE"
        }),
        StreamKind::Users => json!({"user_id": format!("u{n}"), "traits": {"plan": "paid"}}),
        StreamKind::PartialEvents => json!({
            "event_id": format!("ev-{n}"), "user_id": "u", "event": "e", "is_pending": false,
            "ai_data": {"output": "a"}, "timestamp": "2024-01-02T03:04:05Z"
        }),
        StreamKind::Spans => unreachable!("spans are OTLP, not JSON items"),
    }
}

/// `(field, required)` of each kind.
fn fields(kind: StreamKind) -> &'static [(&'static str, bool)] {
    match kind {
        StreamKind::Events => &[
            ("event_id", false),
            ("user_id", true),
            ("event", true),
            ("timestamp", false),
            ("properties", false),
            ("attachments", false),
            ("ai_data", false),
        ],
        StreamKind::Signals => &[
            ("event_id", true),
            ("signal_name", true),
            ("timestamp", false),
            ("properties", false),
            ("attachment_id", false),
            ("signal_type", false),
            ("sentiment", false),
        ],
        StreamKind::Users => &[("user_id", true), ("traits", false)],
        StreamKind::PartialEvents => &[
            ("event_id", true),
            ("user_id", false),
            ("event", false),
            ("is_pending", false),
            ("ai_data", false),
            ("timestamp", false),
        ],
        StreamKind::Spans => &[],
    }
}

/// What happens to the chosen field.
#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Null,
    Number,
    Bool,
    Array,
    Object,
    Empty,
    /// A string of this many bytes.
    Long(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        Just(Mutation::Null),
        Just(Mutation::Number),
        Just(Mutation::Bool),
        Just(Mutation::Array),
        Just(Mutation::Object),
        Just(Mutation::Empty),
        prop_oneof![Just(1025usize), Just(4096), Just(1_100_000)].prop_map(Mutation::Long),
    ]
}

/// A valid batch of `kind` with one field of one item mutated: the body,
/// the mutated item's index, the field, and the mutation.
#[derive(Debug, Clone)]
struct NearValid {
    kind: StreamKind,
    items: usize,
    index: usize,
    field: &'static str,
    required: bool,
    mutation: Mutation,
    body: Vec<u8>,
}

fn near_valid(kinds: &'static [StreamKind]) -> impl Strategy<Value = NearValid> {
    (
        prop::sample::select(kinds),
        1usize..5,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        mutation(),
    )
        .prop_map(|(kind, items, index, field, mutation)| {
            let index = index.index(items);
            let (field, required) = *field.get(fields(kind));
            let mut batch: Vec<Value> = (0..items).map(|n| valid_item(kind, n)).collect();
            let obj = batch[index].as_object_mut().expect("object");
            let value = match &mutation {
                Mutation::Remove => None,
                Mutation::Null => Some(Value::Null),
                Mutation::Number => Some(json!(42)),
                Mutation::Bool => Some(json!(true)),
                Mutation::Array => Some(json!([1])),
                Mutation::Object => Some(json!({})),
                Mutation::Empty => Some(json!("")),
                Mutation::Long(n) => Some(Value::from("x".repeat(*n))),
            };
            match value {
                None => obj.remove(field),
                Some(v) => obj.insert(field.to_string(), v),
            };
            let body = serde_json::to_vec(&batch).expect("json");
            NearValid {
                kind,
                items,
                index,
                field,
                required,
                mutation,
                body,
            }
        })
}

/// The near-valid property: accepted whole, or refused naming the mutated
/// item — and the exact field where the outcome is certain.
fn check_near_valid(case: &NearValid) -> Result<usize, Invalid> {
    let outcome = check(case.kind, &case.body);
    let at = format!("[{}].{}", case.index, case.field);
    // A number, or a bool anywhere but the one boolean field, is the wrong type.
    let mistyped = match case.mutation {
        Mutation::Number => true,
        Mutation::Bool => case.field != "is_pending",
        _ => false,
    };
    match (&outcome, &case.mutation) {
        (Ok(items), m) => {
            assert_eq!(*items, case.items);
            let absent = matches!(m, Mutation::Remove | Mutation::Null);
            assert!(!(absent && case.required), "accepted without required {at}");
            assert!(!mistyped, "accepted a mistyped {at}");
        }
        (Err(e), m) => {
            let item = format!("[{}]", case.index);
            assert!(
                e.param == item || e.param.starts_with(&at),
                "{e:?} for {at}"
            );
            if mistyped || matches!(m, Mutation::Remove | Mutation::Null) {
                assert_eq!(e.param, at, "{e:?}");
            }
            assert!(
                case.required || !matches!(m, Mutation::Remove | Mutation::Null),
                "refused an absent optional {at}: {e:?}"
            );
        }
    }
    outcome
}

#[test]
fn arbitrary_bytes_never_panic_and_refusals_name_something() {
    let strategy = (
        prop::sample::select(&KINDS[..]),
        prop::collection::vec(any::<u8>(), 0..256),
    );
    TestRunner::new(config(cases()))
        .run(&strategy, |(kind, bytes)| {
            let _ = check(kind, &bytes);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn arbitrary_json_is_accepted_whole_or_refused_naming_the_item() {
    // Half the bodies are arrays of objects, the shape the SDKs send.
    let body = prop_oneof![
        json_value(),
        prop::collection::vec(
            prop::collection::btree_map(key(), json_value(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1..4
        )
        .prop_map(Value::Array),
    ];
    TestRunner::new(config(cases()))
        .run(
            &(prop::sample::select(&KINDS[..]), body),
            |(kind, value)| {
                let bytes = serde_json::to_vec(&value).expect("json");
                let _ = check(kind, &bytes);
                Ok(())
            },
        )
        .expect("property holds");
}

#[test]
fn near_valid_payloads_are_refused_naming_the_mutated_item_and_field() {
    TestRunner::new(config(cases()))
        .run(&near_valid(&KINDS), |case| {
            let _ = check_near_valid(&case);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn over_http_never_a_5xx_and_exactly_the_accepted_items_are_stored() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let h = rt.block_on(crate::common::Harness::start("properties"));
    let key = rt.block_on(h.write_key("acme"));
    let accepted = Cell::new(0u64);
    let n = Cell::new(0usize);
    TestRunner::new(config((cases() / 8).max(4)))
        .run(&near_valid(&[StreamKind::Events]), |mut case| {
            // Unique ids per case, so the view's exact count is the sum.
            n.set(n.get() + 1);
            let body = String::from_utf8(case.body.clone()).expect("utf8");
            // Derived ids (items without event_id) come from the content, so
            // the user ids are made unique too.
            let body = body
                .replace("\"ev-", &format!("\"c{}-ev-", n.get()))
                .replace("\"user_id\":\"u", &format!("\"user_id\":\"c{}-u", n.get()));
            case.body = body.clone().into_bytes();
            let expected = check_near_valid(&case);
            let r = rt.block_on(h.post("/v1/events/track", Some(&key), None, &body));
            match expected {
                Ok(items) => {
                    prop_assert_eq!(r.status, 204, "{}", r.body);
                    accepted.set(accepted.get() + items as u64);
                }
                Err(e) => {
                    prop_assert_eq!(r.status, e.status, "{}", r.body);
                    let error = r.error();
                    prop_assert_eq!(error["param"].as_str(), Some(e.param.as_str()));
                }
            }
            Ok(())
        })
        .expect("property holds");
    let sql = "SELECT count() FROM events_view WHERE org = ?";
    let accepted = accepted.get();
    assert_eq!(rt.block_on(h.wait_count(sql, "acme", accepted)), accepted);
    rt.block_on(h.stop());
}
