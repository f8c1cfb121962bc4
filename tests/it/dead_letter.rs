//! Poison records on the real broker and ClickHouse: the consumer moves them
//! to the dead-letter topic with their origin, inserts the good records
//! around them, and commits past them.
//!
//! The issue: "A record that cannot be decoded or inserted (poison) goes to a
//! dead-letter topic with the reason and its origin (topic, partition,
//! offset), and the consumer moves on; one bad row never fails its whole
//! batch forever."

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::{DEADLINE, Harness};
use downpour::bus::{dead_letter, record};
use downpour::pipeline::StreamKind;
use downpour::sink::rowbinary::RowWriter;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The user id the test's ClickHouse table refuses (a `throwIf` column).
const REFUSED_USER: &str = "refused-by-clickhouse";

/// One `events` row of acme's default project in RowBinary (record version 3's column order).
fn event_row(buf: &mut Vec<u8>, event_id: &str, user_id: &str) {
    owned_event_row(buf, "acme", event_id, user_id);
}

/// One `events` row that says it belongs to `org`.
fn owned_event_row(buf: &mut Vec<u8>, org: &str, event_id: &str, user_id: &str) {
    let mut w = RowWriter::new(buf);
    for s in [org, "default", event_id, user_id, "direct"] {
        w.string(s.as_bytes());
    }
    w.datetime(1_767_323_045);
    w.u64(1_767_323_045_678);
    w.datetime(1_767_323_046);
    for s in ["", "", "", "", "{}", "[]"] {
        w.string(s.as_bytes());
    }
    w.u8(0);
    // feature_flags, extra (version 2).
    for s in ["{}", "{}"] {
        w.string(s.as_bytes());
    }
    // body_expires_at, expires_at (version 3).
    w.datetime(1_767_323_046 + 48 * 3600);
    w.datetime(1_767_323_046 + 90 * 86_400);
}

/// A record of `rows` rows whose header announces `announced`.
fn events_record(rows: &[(&str, &str)], announced: u32) -> Vec<u8> {
    let mut value = Vec::new();
    record::begin(&mut value, StreamKind::Events);
    for (id, user) in rows {
        event_row(&mut value, id, user);
    }
    record::finish(&mut value, announced);
    value
}

fn event(id: &str) -> String {
    serde_json::json!([{
        "event_id": id, "user_id": "user123", "event": "ai_interaction",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "ai_data": {"input": "What is the weather like today?", "output": "Sunny."}
    }])
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letter_topic_and_the_consumer_moves_on() {
    let mut cfg = crate::common::private_config("dlq");
    cfg.consumer.lag_interval_ms = 200;
    let h = Harness::start_cfg(cfg).await;
    // A value this table refuses: every INSERT holding that user's row fails
    // with code 395, as ClickHouse refuses data it cannot store.
    h.db.query(&format!(
        "ALTER TABLE events ADD COLUMN refuse UInt8 MATERIALIZED throwIf(user_id = '{REFUSED_USER}')"
    ))
    .execute()
    .await
    .expect("alter");
    let key = h.write_key("acme").await;
    let topic = format!("{}downpour.events", h.cfg.kafka.topic_prefix);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &h.cfg.kafka.brokers)
        .set("acks", "all")
        .set("message.max.bytes", (6 << 20).to_string())
        .create()
        .expect("producer");

    let post = |id: &'static str| {
        let (h, key) = (&h, &key);
        async move {
            let r = h
                .post("/v1/events/track", Some(key), None, &event(id))
                .await;
            assert_eq!(r.status, 204, "{id}: {}", r.body);
        }
    };
    post("good-1").await;
    // Same key as the edge's records (acme/default), so the same partition:
    // the poison sits between good records.
    let poison = [
        ("not a record", b"{\"not\": \"a downpour record\"}".to_vec()),
        ("truncated", events_record(&[("t-1", "u"), ("t-2", "u")], 3)),
        (
            "refused",
            events_record(&[("r-1", "u"), ("r-2", REFUSED_USER)], 2),
        ),
        // Larger than the dead-letter producer takes: its head goes, marked.
        ("oversized", vec![b'x'; 5 << 20]),
        // Rows claiming another org than the key the edge authorized.
        ("foreign owner", {
            let mut value = Vec::new();
            record::begin(&mut value, StreamKind::Events);
            owned_event_row(&mut value, "evil", "f-1", "u");
            record::finish(&mut value, 1);
            value
        }),
    ];
    let mut origins = HashMap::new();
    for (name, value) in &poison {
        let record = FutureRecord::to(&topic).key("acme/default").payload(value);
        let delivery = producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("poison acknowledged");
        let (partition, offset) = (delivery.partition, delivery.offset);
        origins.insert(offset, (*name, partition, value.clone()));
        post(match *name {
            "not a record" => "good-2",
            "truncated" => "good-3",
            "refused" => "good-4",
            "oversized" => "good-5",
            _ => "good-6",
        })
        .await;
    }

    // Every good record arrives, and nothing of the poison does.
    let count = "SELECT count() FROM events_view WHERE org = ?";
    assert_eq!(h.wait_count(count, "acme", 6).await, 6);
    // good-6 came after the foreign record on its partition, so it was read.
    let foreign = h
        .wait_count("SELECT count() FROM events WHERE org = ?", "evil", 0)
        .await;
    assert_eq!(foreign, 0, "rows claiming another org were inserted");

    // The dead-letter topic holds each poison record, as sent, with its origin.
    let reader = h.topic_reader(&dead_letter::topic(&h.cfg.kafka));
    let started = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < poison.len() && started.elapsed() < DEADLINE {
        let Some(message) = reader.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("dead letter");
        let headers = message.headers().expect("headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| panic!("header {name}"))
        };
        let value = message.payload().unwrap_or_default();
        let offset: i64 = header(dead_letter::ORIGIN_OFFSET).parse().expect("offset");
        let (name, partition, sent) = origins
            .get(&offset)
            .unwrap_or_else(|| panic!("unexpected dead letter at {offset}"));
        if *name == "oversized" {
            assert_eq!(header(dead_letter::VALUE_TRUNCATED), sent.len().to_string());
            assert_eq!(value, &sent[..dead_letter::TRUNCATED_VALUE_BYTES]);
        } else {
            assert_eq!(value, sent.as_slice(), "{name}: value as sent");
        }
        assert_eq!(
            message.key(),
            Some(&b"acme/default"[..]),
            "{name}: key kept"
        );
        assert_eq!(header(dead_letter::ORIGIN_TOPIC), topic, "{name}");
        assert_eq!(
            header(dead_letter::ORIGIN_PARTITION),
            partition.to_string(),
            "{name}"
        );
        assert_eq!(
            header(dead_letter::ORIGIN_OFFSET),
            offset.to_string(),
            "{name}"
        );
        let reason = header(dead_letter::REASON);
        match *name {
            "not a record" | "oversized" => {
                assert_eq!(reason, "undecodable: not a downpour record")
            }
            "truncated" => assert!(
                reason.starts_with("undecodable: row 2 is truncated"),
                "{reason}"
            ),
            "foreign owner" => assert_eq!(
                reason,
                "undecodable: row 0 belongs to another org or project than the record key"
            ),
            _ => assert!(
                reason.starts_with("rejected: ") && reason.contains("Code: 395"),
                "{reason}"
            ),
        }
        seen.push(*name);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "foreign owner",
            "not a record",
            "oversized",
            "refused",
            "truncated"
        ]
    );

    // The group's committed offset moves past the last poison record.
    let (&last_poison, (_, partition, _)) =
        origins.iter().max_by_key(|(o, _)| **o).expect("origins");
    let partition = *partition;
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &h.cfg.kafka.brokers)
        .set("group.id", format!("{}-events", h.cfg.kafka.group_prefix))
        .create()
        .expect("group reader");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, partition);
    let started = Instant::now();
    let committed = loop {
        let list = group
            .committed_offsets(wanted.clone(), Duration::from_secs(5))
            .expect("committed offsets");
        let offset = list
            .find_partition(&topic, partition)
            .map(|e| e.offset())
            .unwrap_or(Offset::Invalid);
        match offset {
            Offset::Offset(o) if o > last_poison => break o,
            _ if started.elapsed() > DEADLINE => panic!("committed {offset:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert!(committed > last_poison);

    // Nothing else arrived late, and the lag gauge reaches 0 once committed.
    let n: u64 =
        h.db.query(count)
            .bind("acme")
            .fetch_one()
            .await
            .expect("count");
    assert_eq!(n, 6);
    let metrics_url = format!("{}/metrics", h.ops);
    let lag_line =
        format!("downpour_consumer_lag{{topic=\"{topic}\",partition=\"{partition}\"}} 0");
    let started = Instant::now();
    loop {
        let text = reqwest::get(&metrics_url)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.lines().any(|l| l == lag_line) {
            assert!(
                text.contains(&format!(
                    "downpour_dead_letter_total{{stream=\"events\",reason=\"undecodable\",topic=\"{topic}\"}}"
                ))
            );
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no {lag_line} in\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    h.stop().await;
}

/// Concurrent small requests for three projects: every record they make must
/// pass the consumer's layout check, or its events would be dead-lettered
/// instead of stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_never_mistaken_for_poison() {
    let h = Harness::start("dlqok").await;
    let key = h.write_key("acme").await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (http, url) = (h.http.clone(), format!("{}/v1/events/track", h.base));
        let (key, project) = (key.clone(), ["default", "p1", "p2"][i % 3]);
        requests.spawn(async move {
            let response = http
                .post(url)
                .header("authorization", format!("Bearer {key}"))
                .header("x-raindrop-project-id", project)
                .header("content-type", "application/json")
                .body(event(&format!("c-{i}")))
                .send()
                .await
                .expect("sent");
            response.status().as_u16()
        });
    }
    let statuses = requests.join_all().await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let count = "SELECT count() FROM events_view WHERE org = ?";
    assert_eq!(h.wait_count(count, "acme", 200).await, 200);
    h.stop().await;
}

/// A record of format version 1 (from an edge not yet upgraded: events rows
/// without `feature_flags`, `extra` and the expiries) is not poison: the
/// consumer completes its rows and they land with the new columns'
/// defaults (expiries unstamped, 0: the default retention applies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_record_from_an_older_edge_lands_completed() {
    let h = Harness::start("v1_record").await;
    let topic = format!("{}downpour.events", h.cfg.kafka.topic_prefix);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &h.cfg.kafka.brokers)
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut value = Vec::new();
    record::begin(&mut value, StreamKind::Events);
    value[1] = 1;
    for id in ["v1-a", "v1-b"] {
        event_row(&mut value, id, "u");
        // A version-1 row ends before feature_flags and extra (two
        // 3-byte strings), and the expiries (two 4-byte DateTimes).
        value.truncate(value.len() - 14);
    }
    record::finish(&mut value, 2);
    producer
        .send(
            FutureRecord::to(&topic).key("acme/default").payload(&value),
            Duration::from_secs(10),
        )
        .await
        .expect("acknowledged");
    let sql = "SELECT count() FROM events_view WHERE org = ? AND event_id IN ('v1-a', 'v1-b') \
               AND feature_flags = '{}' AND extra = '{}'";
    assert_eq!(h.wait_count(sql, "acme", 2).await, 2);
    let sql = "SELECT count() FROM events WHERE org = ? AND event_id IN ('v1-a', 'v1-b') \
               AND toUInt32(body_expires_at) = 0 AND toUInt32(expires_at) = 0";
    assert_eq!(h.wait_count(sql, "acme", 2).await, 2);
    h.stop().await;
}
