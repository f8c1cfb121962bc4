//! Benchmarks of the edge's hot path: parse + validate + encode of one
//! request body (`downpour::edge::validate::encode`), from JSON bytes to the
//! Kafka record values (header + RowBinary rows). No HTTP, auth or Kafka.
//!
//! Groups:
//! - `events_1`: one SDK-like event of about 500 bytes (`user_id`, `event`,
//!   `event_id`, `timestamp`, `ai_data` with model/input/output/convo_id,
//!   `properties` with a few keys);
//! - `events_100`: a batch of 100 such events;
//! - `signals_10`: a batch of 10 signals;
//! - `parse_only_100`: only the JSON parse of the `events_100` body, so the
//!   difference is validation + RowBinary encoding;
//! - `events_100_redacted`: `events_100` under the default redaction policy
//!   (every built-in detector; nothing in these events matches), and
//!   `events_100_redacted_hits` with an e-mail address in every input; the
//!   difference to `events_100` is what redaction costs per event;
//! - `redact_500b`: the default policy over a 500-byte text with nothing to
//!   redact (the check every text field gets);
//! - `spans_50`: one OTLP protobuf export of 50 AI SDK-like spans (the load
//!   command's traces mix), decoded and encoded by `downpour::edge::otlp`;
//!   throughput in spans.
//!
//! Throughput is reported in items (events or signals) per second. simd-json
//! parses in place, so every iteration gets a fresh copy of the body; the
//! copy is made outside the timed section (`iter_batched`).
//!
//! Run: `cargo bench --bench edge` (add `-- --quick` for a short run, or a
//! group name such as `-- events_100` to run one group).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

/// The binary's allocator (src/main.rs), so the figures are the edge's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use downpour::edge::validate::{Envelope, Redaction, encode};
use downpour::pipeline::{self, Limits, StreamKind};
use downpour::redact::{Detector, Redactor};

/// One event as the Python SDK sends it, about 500 bytes.
fn event(i: usize) -> String {
    format!(
        r#"{{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-{i:012}","user_id":"user-{i:06}","event":"chat_message","timestamp":"2024-01-02T03:04:05.500123","properties":{{"$context":{{"library":{{"name":"python-sdk","version":"0.0.75"}}}},"plan":"paid","latency_ms":812,"tool_calls":2,"experiment":"exp_a"}},"ai_data":{{"model":"gpt-4o-mini","input":"What is the weather like in Lisbon today? Answer briefly.","output":"It is sunny and 24 degrees in Lisbon, with a light breeze from the north-west.","convo_id":"conv-{i:08}"}}}}"#
    )
}

/// One signal as the Python SDK sends it (explicit nulls included).
fn signal(i: usize) -> String {
    format!(
        r#"{{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-{i:012}","signal_name":"thumbs_up","timestamp":"2024-01-02T03:04:05.500123","properties":{{"location":"chat_ui"}},"attachment_id":null,"signal_type":"feedback","sentiment":"POSITIVE"}}"#
    )
}

fn array(items: impl Iterator<Item = String>) -> Vec<u8> {
    format!("[{}]", items.collect::<Vec<_>>().join(",")).into_bytes()
}

fn limits(kind: StreamKind) -> Limits {
    pipeline::load(None)
        .expect("built-in pipelines load")
        .into_iter()
        .find(|p| p.kind == kind)
        .expect("a pipeline per kind")
        .limits
}

fn bench_body(c: &mut Criterion, name: &str, kind: StreamKind, items: u64, body: Vec<u8>) {
    bench_redacted(c, name, kind, items, body, None);
}

fn bench_redacted(
    c: &mut Criterion,
    name: &str,
    kind: StreamKind,
    items: u64,
    body: Vec<u8>,
    redactor: Option<&Redactor>,
) {
    let limits = limits(kind);
    let env = Envelope {
        redaction: redactor.map(|redactor| Redaction {
            redactor,
            all_messages: true,
        }),
        retention: downpour::registry::projects::Retention::DEFAULT,
        org: "org_bench",
        project: "default",
        received_us: 1_700_000_000_000_000,
    };
    // The body must be valid, or the bench measures the refusal path.
    let encoded = encode(kind, &limits, &mut body.clone(), &env).expect("bench body is valid");
    assert_eq!(encoded.items as u64, items);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(items));
    group.bench_function(format!("{} bytes", body.len()), |b| {
        b.iter_batched(
            || body.clone(),
            |mut bytes| black_box(encode(kind, &limits, &mut bytes, &env)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn edge(c: &mut Criterion) {
    let one = array((0..1).map(event));
    assert!(
        (450..600).contains(&one.len()),
        "one event is ~500 bytes: {}",
        one.len()
    );
    bench_body(c, "events_1", StreamKind::Events, 1, one);
    bench_body(
        c,
        "events_100",
        StreamKind::Events,
        100,
        array((0..100).map(event)),
    );
    let default_policy = Redactor::new(&Detector::ALL, &[]).expect("the default policy");
    bench_redacted(
        c,
        "events_100_redacted",
        StreamKind::Events,
        100,
        array((0..100).map(event)),
        Some(&default_policy),
    );
    bench_redacted(
        c,
        "events_100_redacted_hits",
        StreamKind::Events,
        100,
        array((0..100).map(|i| event(i).replace("in Lisbon today?", "for jane@example.com?"))),
        Some(&default_policy),
    );
    let text = "What is the weather like in Lisbon today? Answer briefly, and mention the wind. "
        .repeat(7);
    let text = &text[..500];
    assert!(matches!(
        default_policy.redact(text),
        std::borrow::Cow::Borrowed(_)
    ));
    let mut group = c.benchmark_group("redact_500b");
    group.throughput(Throughput::Elements(1));
    group.bench_function("default policy, no match", |b| {
        b.iter(|| black_box(default_policy.redact(black_box(text)).len()))
    });
    group.finish();
    bench_body(
        c,
        "signals_10",
        StreamKind::Signals,
        10,
        array((0..10).map(signal)),
    );
}

/// The JSON parse alone (simd-json's tape, what `encode` starts with), so
/// the rest of `events_100` reads as validation + RowBinary encoding.
fn parse_only(c: &mut Criterion) {
    let body = array((0..100).map(event));
    let mut buffers = simd_json::Buffers::default();
    let mut group = c.benchmark_group("parse_only_100");
    group.throughput(Throughput::Elements(100));
    group.bench_function(format!("{} bytes", body.len()), |b| {
        b.iter_batched(
            || body.clone(),
            |mut bytes| {
                black_box(
                    simd_json::to_tape_with_buffers(&mut bytes, &mut buffers)
                        .map(|t| t.0.len())
                        .ok(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// An OTLP protobuf export of 50 spans, as the load command's traces mix
/// sends it.
fn spans(c: &mut Criterion) {
    use downpour::edge::budget::BodyBudget;
    use downpour::edge::otlp::{self, Encoding, Format, Wire};
    use downpour::load::traffic::{self, Mix, Spec};
    use rand::SeedableRng;
    let spec = Spec {
        mix: Mix::Traces,
        event_bytes: 500,
        projects: 1,
        hot_share: 0.0,
    };
    let pool = traffic::generate(spec, &mut rand::rngs::StdRng::seed_from_u64(1)).unwrap();
    let step = &pool.entries[0].steps[0];
    let wire = Wire {
        format: Format::Protobuf,
        encoding: Encoding::Identity,
    };
    let limits = limits(StreamKind::Spans);
    let env = Envelope {
        redaction: None,
        retention: downpour::registry::projects::Retention::DEFAULT,
        org: "org_bench",
        project: "default",
        received_us: 1_700_000_000_000_000,
    };
    let budget = BodyBudget::new(1 << 30, 1.0);
    let org: std::sync::Arc<str> = std::sync::Arc::from("org_bench");
    let mut group = c.benchmark_group("spans_50");
    group.throughput(Throughput::Elements(u64::from(step.items)));
    group.bench_function(format!("{} bytes", step.body.len()), |b| {
        b.iter_batched(
            || step.body.clone(),
            |body| {
                let mut reserved = budget.reserve(&org, body.len()).unwrap();
                let (encoded, rejected) =
                    otlp::encode(wire, body, 20 << 20, &mut reserved, &budget, &limits, &env)
                        .unwrap();
                assert_eq!(rejected.spans, 0);
                black_box(encoded)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, edge, parse_only, spans);
criterion_main!(benches);
