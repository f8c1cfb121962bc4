//! The edge's spool (issue 14, src/bus/spool.rs), against the real broker
//! and ClickHouse: an edge whose broker is unreachable answers 204 with the
//! records on its disk, reports what it holds, refuses with 503 past
//! `edge.spool_max_bytes`, and the next edge process on the same directory
//! forwards what it found, every event readable once. (The broker coming
//! back under the same process is the chaos test's spool fault.)

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Harness, metric, private_config};
use downpour::runtime::{self, Parts};

const ORG: &str = "spoolorg";

fn spool_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_without_its_broker_spools_and_the_next_one_forwards() {
    let cfg = private_config("spool");
    let dir = std::env::temp_dir().join(format!("downpour-{}", cfg.clickhouse.database));
    runtime::migrate(&cfg).await.expect("migrate");

    // An edge whose broker does not answer, with a spool.
    let mut cut_off = cfg.clone();
    cut_off.kafka.brokers = "127.0.0.1:9".into();
    cut_off.kafka.publish_timeout_ms = 1_000;
    cut_off.edge.spool_dir = Some(dir.clone());
    cut_off.edge.spool_after_ms = 200;
    cut_off.edge.spool_max_bytes = 64 * 1024;
    let edge_only = Parts {
        edge: true,
        consumers: false,
    };
    let mut a = Harness::start_with(cut_off, edge_only, false).await;
    let key = a.write_key(ORG).await;
    let mut ids = Vec::new();
    for request in 0..5 {
        let batch: Vec<_> = (0..4)
            .map(|i| {
                let id = format!("spooled-{request}-{i}");
                ids.push(id.clone());
                json!({"event_id": id, "user_id": "u", "event": "chat"})
            })
            .collect();
        let r = a
            .post(
                "/v1/events/track",
                Some(&key),
                Some("web"),
                &json!(batch).to_string(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert!(spool_files(&dir) >= 1, "the records are on disk");
    let metrics = a.metrics().await;
    assert_eq!(
        metric(&metrics, "downpour_edge_spooled_requests_total"),
        Some(5.0)
    );
    assert!(metric(&metrics, "downpour_edge_spool_bytes").is_some_and(|b| b > 0.0));
    // Past spool_max_bytes: 503 as without a spool, and nothing spooled.
    let big = "x".repeat(40_000);
    let (mut refused, mut spooled) = (0, 5);
    for request in 0..4 {
        let body = json!([{"event_id": format!("big-{request}"), "user_id": "u", "event": "chat",
                           "properties": {"pad": big}}]);
        let r = a
            .post(
                "/v1/events/track",
                Some(&key),
                Some("web"),
                &body.to_string(),
            )
            .await;
        if r.status == 503 {
            refused += 1;
            assert!(r.retry_after.is_some(), "{}", r.body);
        } else {
            assert_eq!(r.status, 204, "{}", r.body);
            ids.push(format!("big-{request}"));
            spooled += 1;
        }
    }
    assert!(
        refused >= 2,
        "{refused} of 4 refused past the spool's bound"
    );
    let metrics = a.metrics().await;
    assert!(metric(&metrics, "downpour_edge_spool_full_total").is_some_and(|n| n >= 2.0));
    let running = a.running.take().expect("running");
    running.stop().await;

    // The next edge on the same directory, with the broker: it forwards
    // what the first one spooled, and the consumer makes it readable once.
    let mut back = cfg.clone();
    back.edge.spool_dir = Some(dir.clone());
    let b = Harness::start_with(
        back,
        Parts {
            edge: true,
            consumers: true,
        },
        false,
    )
    .await;
    let n = ids.len() as u64;
    let sql = "SELECT count() FROM events_view WHERE org = ?";
    assert_eq!(b.wait_count(sql, ORG, n).await, n);
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool_files(&dir) > 0 {
        assert!(Instant::now() < deadline, "forwarded files are deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = b.metrics().await;
    assert_eq!(
        metric(&metrics, "downpour_edge_spool_forwarded_requests_total"),
        Some(f64::from(spooled))
    );
    assert_eq!(metric(&metrics, "downpour_edge_spool_bytes"), Some(0.0));
    let uniq: Vec<u64> = b
        .rows(
            "SELECT uniqExact(event_id) FROM events_view WHERE org = ?",
            ORG,
        )
        .await;
    assert_eq!(uniq, vec![n]);
    b.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
