//! A hot project spread over partitions (issue 14, src/edge/hot.rs), against
//! the real broker and ClickHouse: once a project sends more rows per
//! second than the threshold, its records take turns over keys
//! `org/project#n`, which land on several partitions; the consumer reads
//! the project back from them, every event is readable once, and a partial
//! event whose patches came through different partitions is merged.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use serde_json::json;

use crate::common::{Harness, private_config};

const ORG: &str = "hotorg";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_project_spreads_over_partitions_and_reads_back_once() {
    let mut cfg = private_config("hot_project");
    cfg.kafka.partitions = 4;
    // Any second with more than one row makes the next one hot.
    cfg.edge.hot_project_rows_per_second = 1;
    cfg.edge.hot_project_spread = 4;
    let h = Harness::start_cfg(cfg).await;
    let write = h.write_key(ORG).await;
    let mut ids = Vec::new();
    let started = Instant::now();
    let mut request = 0;
    // Requests over a few seconds, so the project is hot after the first;
    // each also sends a patch of the one partial event.
    while started.elapsed() < Duration::from_secs(3) || request < 20 {
        let batch: Vec<_> = (0..5)
            .map(|i| {
                let id = format!("hot-{request}-{i}");
                ids.push(id.clone());
                json!({"event_id": id, "user_id": "u", "event": "chat"})
            })
            .collect();
        let r = h
            .post(
                "/v1/events/track",
                Some(&write),
                Some("blaze"),
                &json!(batch).to_string(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        let patch = json!({"event_id": "merged", "is_pending": true,
                           "properties": {format!("step_{request}"): request}});
        let r = h
            .post(
                "/v1/events/track_partial",
                Some(&write),
                Some("blaze"),
                &patch.to_string(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        request += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = json!({"event_id": "merged", "is_pending": false, "user_id": "u-final",
                      "ai_data": {"output": "done"}});
    let r = h
        .post(
            "/v1/events/track_partial",
            Some(&write),
            Some("blaze"),
            &last.to_string(),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Every event once, under the project (not `blaze#n`).
    let n = ids.len() as u64;
    let sql = "SELECT count() FROM events_by_user WHERE org = ? AND project = 'blaze'";
    assert_eq!(h.wait_count(sql, ORG, n).await, n);
    let sql = "SELECT count() FROM events_view WHERE org = ? AND project = 'blaze' AND event_id LIKE 'hot-%'";
    assert_eq!(h.wait_count(sql, ORG, n).await, n);
    let sql = "SELECT count() FROM events WHERE org = ? AND project != 'blaze'";
    assert_eq!(h.wait_count(sql, ORG, 0).await, 0);
    // The partial event's patches, from several partitions, merged.
    let sql = "SELECT count() FROM partial_events_final WHERE org = ? AND event_id = 'merged' \
               AND user_id = 'u-final' AND ai_output = 'done'";
    assert_eq!(h.wait_count(sql, ORG, 1).await, 1);
    // The pending panel names the project, not its keys.
    let pending: Vec<String> = h
        .rows("SELECT DISTINCT slug FROM pending_slugs WHERE org = ?", ORG)
        .await;
    assert_eq!(pending, ["blaze"]);
    let activity: Vec<String> = h
        .rows(
            "SELECT DISTINCT project FROM project_activity WHERE org = ?",
            ORG,
        )
        .await;
    assert_eq!(activity, ["blaze"]);

    // The records themselves: spread keys, on more than one partition.
    let topic = format!("{}downpour.events", h.cfg.kafka.topic_prefix);
    let reader = h.topic_reader(&topic);
    let mut keys = BTreeSet::new();
    let mut partitions = BTreeSet::new();
    let mut records = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while records < request && Instant::now() < deadline {
        let Some(message) = reader.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("record");
        keys.insert(String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned());
        partitions.insert(message.partition());
        records += 1;
    }
    assert_eq!(records, request, "one record per request");
    assert!(
        keys.contains("hotorg/blaze"),
        "the first second is not hot: {keys:?}"
    );
    assert!(
        keys.iter()
            .filter(|k| k.starts_with("hotorg/blaze#"))
            .count()
            >= 2,
        "{keys:?}"
    );
    assert!(partitions.len() >= 2, "one partition only: {partitions:?}");
    h.stop().await;
}
