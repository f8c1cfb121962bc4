//! A consumer group the broker never forms again (issue 15), made for real
//! against tansu 0.6: member A forms the group and leads it, member B's
//! JoinGroup turns it back to forming with A still the leader, then A
//! leaves. tansu removes A but keeps it as the leader, so every member that
//! joins later waits for an assignment nobody can send, forever.
//!
//! Shown: downpour's consumer in that group is recreated once, is still
//! never assigned, and then moves the pipeline to the next group epoch with
//! the committed offsets carried (it reads only what was never committed,
//! not the topic from its start); a consumer started later finds the moved
//! group by itself and does not move again.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::common::{DEADLINE, Harness, metric, private_config};
use downpour::runtime::Parts;

fn events(from: usize, n: usize) -> String {
    let items: Vec<String> = (from..from + n)
        .map(|i| format!(r#"{{"event_id":"wedge-{i}","user_id":"u1","event":"e"}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

/// Makes the wedge in `group` (blocking: rdkafka's own clients).
fn wedge(brokers: &str, group: &str, topic: &str) {
    let member = |heartbeat_ms: &str| -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "30000")
            // A must not see the rebalance B starts (it would rejoin as the
            // leader and form the group with both).
            .set("heartbeat.interval.ms", heartbeat_ms)
            .create()
            .expect("member")
    };
    let a = member("10000");
    a.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    while a.assignment().map(|l| l.count()).unwrap_or(0) == 0 {
        assert!(started.elapsed() < DEADLINE, "A was never assigned");
        let _ = a.poll(Duration::from_millis(100));
    }
    let b = member("3000");
    b.subscribe(&[topic]).expect("subscribe");
    for _ in 0..20 {
        let _ = b.poll(Duration::from_millis(100));
    }
    // A's LeaveGroup reaches a forming group it leads.
    drop(a);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_leaves_a_group_whose_leader_left_while_it_formed() {
    let mut cfg = private_config("wedge");
    cfg.consumer.stall_timeout_ms = 4_000;
    cfg.consumer.lag_interval_ms = 200;
    let topic = format!("{}downpour.events", cfg.kafka.topic_prefix);
    let group = format!("{}-events", cfg.kafka.group_prefix);
    let rows = format!("downpour_consumer_rows_total{{stream=\"events\",topic=\"{topic}\"}}");
    let moves = format!("downpour_consumer_regrouped_total{{stream=\"events\",topic=\"{topic}\"}}");
    let consumers = Parts {
        edge: false,
        consumers: true,
    };
    let edge = Harness::start_with(
        cfg.clone(),
        Parts {
            edge: true,
            consumers: false,
        },
        true,
    )
    .await;
    let key = edge.write_key("acme").await;
    let count = "SELECT count() FROM events_view WHERE org = ?";

    // Ten events read and committed in the group, by a consumer that stops.
    assert_eq!(
        edge.post("/v1/events/track", Some(&key), None, &events(0, 10))
            .await
            .status,
        204
    );
    let mut first = Harness::start_with(cfg.clone(), consumers, false).await;
    assert_eq!(edge.wait_count(count, "acme", 10).await, 10);
    edge.wait_metric(&rows, |v| v >= 10.0).await;
    first.running.take().expect("running").stop().await;

    let (brokers, g, t) = (cfg.kafka.brokers.clone(), group.clone(), topic.clone());
    tokio::task::spawn_blocking(move || wedge(&brokers, &g, &t))
        .await
        .expect("wedge");

    // Ten more; a consumer in the wedged group moves on and reads them only.
    assert_eq!(
        edge.post("/v1/events/track", Some(&key), None, &events(10, 10))
            .await
            .status,
        204
    );
    let mut second = Harness::start_with(cfg.clone(), consumers, false).await;
    assert_eq!(
        edge.wait_count(count, "acme", 20).await,
        20,
        "the new events readable"
    );
    assert_eq!(
        metric(&edge.metrics().await, &moves),
        Some(1.0),
        "moved once"
    );
    assert_eq!(
        edge.wait_metric(&rows, |v| v >= 20.0).await,
        20.0,
        "only the ten uncommitted events were read (the committed ones not again)"
    );
    second.running.take().expect("running").stop().await;

    // A later start joins the moved group (its offsets are there) and stays.
    assert_eq!(
        edge.post("/v1/events/track", Some(&key), None, &events(20, 5))
            .await
            .status,
        204
    );
    let mut third = Harness::start_with(cfg.clone(), consumers, false).await;
    assert_eq!(edge.wait_count(count, "acme", 25).await, 25);
    assert_eq!(edge.wait_metric(&rows, |v| v >= 25.0).await, 25.0);
    assert_eq!(
        metric(&edge.metrics().await, &moves),
        Some(1.0),
        "moved again"
    );
    third.running.take().expect("running").stop().await;
    edge.stop().await;
}
