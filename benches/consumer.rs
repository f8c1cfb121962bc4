//! Benchmark of the consumer's per-record work, without Kafka or ClickHouse:
//! read the record header (`bus::record::parse`), walk the RowBinary layout
//! (`sink::layout::check`, which refuses a truncated record), append the
//! rows to the batch (`sink::batch::Batch::push`), and, per flush, drain the
//! batch into INSERT chunks and their body pieces (`Chunk::pieces`) — what
//! the consumer does between librdkafka handing it a record and the HTTP
//! INSERT. Rows are never decoded into fields or re-encoded.
//!
//! The records are made by the edge's own encoder from SDK-like events of
//! about 500 bytes (100 per record), spread over 20 projects, so the figure
//! is per row of the same traffic `cargo bench --bench edge` measures.
//!
//! Run: `cargo bench --bench consumer`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use downpour::bus::record;
use downpour::edge::validate::{Envelope, encode};
use downpour::pipeline::{self, StreamKind};
use downpour::sink::{batch::Batch, layout};

const RECORDS: usize = 200;
const EVENTS_PER_RECORD: usize = 100;
const PROJECTS: usize = 20;

fn event(i: usize) -> String {
    format!(
        r#"{{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-{i:012}","user_id":"user-{i:06}","event":"chat_message","timestamp":"2024-01-02T03:04:05.500123","properties":{{"$context":{{"library":{{"name":"python-sdk","version":"0.0.75"}}}},"plan":"paid","latency_ms":812,"tool_calls":2,"experiment":"exp_a"}},"ai_data":{{"model":"gpt-4o-mini","input":"What is the weather like in Lisbon today? Answer briefly.","output":"It is sunny and 24 degrees in Lisbon, with a light breeze from the north-west.","convo_id":"conv-{i:08}"}}}}"#
    )
}

/// (key, record value) pairs as the edge publishes them.
fn records() -> Vec<(Vec<u8>, Vec<u8>)> {
    let limits = pipeline::load(None)
        .expect("built-in pipelines load")
        .into_iter()
        .find(|p| p.kind == StreamKind::Events)
        .expect("an events pipeline")
        .limits;
    (0..RECORDS)
        .map(|r| {
            let project = format!("proj-{}", r % PROJECTS);
            let env = Envelope {
                redaction: None,
                retention: downpour::registry::projects::Retention::DEFAULT,
                org: "org_bench",
                project: &project,
                received_us: 1_700_000_000_000_000,
            };
            let items: Vec<String> = (0..EVENTS_PER_RECORD)
                .map(|i| event(r * EVENTS_PER_RECORD + i))
                .collect();
            let mut body = format!("[{}]", items.join(",")).into_bytes();
            let mut encoded =
                encode(StreamKind::Events, &limits, &mut body, &env).expect("valid body");
            assert_eq!(encoded.records.len(), 1);
            let value = encoded.records.pop().expect("one record");
            (format!("org_bench/{project}").into_bytes(), value)
        })
        .collect()
}

fn consumer(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("consumer_200x100");
    group.throughput(Throughput::Elements((RECORDS * EVENTS_PER_RECORD) as u64));
    group.bench_function("parse + layout check + batch + drain", |b| {
        b.iter(|| {
            let mut batch = Batch::default();
            for (offset, (key, value)) in records.iter().enumerate() {
                let view = record::parse(value, StreamKind::Events).expect("record");
                layout::check(StreamKind::Events, view.body, view.rows, key).expect("layout");
                batch.push(key, 0, offset as i64, view.body, view.rows);
            }
            let (chunks, _dead) = batch.drain(100, 1);
            let pieces: usize = chunks
                .iter()
                .map(|chunk| chunk.pieces(&chunk.records).len())
                .sum();
            black_box(pieces)
        })
    });
    group.finish();
}

criterion_group!(benches, consumer);
criterion_main!(benches);
