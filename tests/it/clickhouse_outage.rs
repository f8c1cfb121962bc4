//! "ClickHouse stopped and restarted: consumers retry with backoff, commit
//! nothing meanwhile, and catch up; no lag metric lies." The consumers reach
//! ClickHouse through a proxy this test cuts and restores; the edge and the
//! broker stay up.

use std::time::Duration;

use crate::common::{Harness, metric, private_config, proxy};
use downpour::runtime::{self, Parts};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_wait_out_a_clickhouse_outage_and_catch_up() {
    let cfg = private_config("chdown");
    // The edge (and this test's reads) talk to ClickHouse directly.
    let edge_only = Parts {
        edge: true,
        consumers: false,
    };
    let h = Harness::start_with(cfg.clone(), edge_only, true).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_addr = listener.local_addr().expect("addr");
    let target = cfg
        .clickhouse
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut proxy_task = tokio::spawn(proxy(listener, target.clone()));
    let mut consumer_cfg = cfg.clone();
    consumer_cfg.clickhouse.url = format!("http://{proxy_addr}");
    consumer_cfg.consumer.retry_max_ms = 400;
    consumer_cfg.consumer.lag_interval_ms = 200;
    consumer_cfg.consumer.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let consumers_only = Parts {
        edge: false,
        consumers: true,
    };
    let consumers = runtime::start(&consumer_cfg, consumers_only)
        .await
        .expect("consumers");

    let readyz = format!(
        "http://{}/readyz",
        consumers
            .metrics_addr
            .expect("a consumer-only process serves /readyz")
    );
    h.wait_ready(&readyz, 200, "ready").await;
    let key = h.write_key("acme").await;
    let post = |i: usize| {
        let (h, key) = (&h, &key);
        async move {
            let body = format!(
                r#"[{{"event_id": "e{i}", "user_id": "u", "event": "e", "timestamp": "2026-01-02T03:04:05Z"}}]"#
            );
            let r = h.post("/v1/events/track", Some(key), None, &body).await;
            assert_eq!(r.status, 204, "{}", r.body);
        }
    };
    let count = "SELECT count() FROM events_view WHERE org = ?";
    post(0).await;
    assert_eq!(h.wait_count(count, "acme", 1).await, 1);
    let topic = format!("{}downpour.events", cfg.kafka.topic_prefix);
    let lag = format!("downpour_consumer_lag{{topic=\"{topic}\",partition=");
    h.wait_metric(&lag, |v| v == 0.0).await;

    // ClickHouse goes away (for the consumers): 5 more requests are accepted.
    proxy_task.abort();
    let _ = proxy_task.await;
    for i in 1..=5 {
        post(i).await;
    }
    // The lag tells the truth: it grows to the 5 records nobody committed.
    h.wait_metric(&lag, |v| v == 5.0).await;
    // The consumer is retrying with backoff, not crashing, not committing.
    // (Series of this test's topic only: other tests' consumers share the process.)
    let retries = format!(
        "downpour_insert_retries_total{{stream=\"events\",kind=\"unavailable\",topic=\"{topic}\"}}"
    );
    let first = h.wait_metric(&retries, |v| v >= 2.0).await;
    h.wait_metric(&retries, |v| v > first).await;
    let backoff =
        format!("downpour_consumer_backoff_seconds{{stream=\"events\",topic=\"{topic}\"}}");
    h.wait_metric(&backoff, |v| v > 0.0).await;
    // Its /readyz says which part cannot serve.
    h.wait_ready(&readyz, 503, "clickhouse").await;
    tokio::time::sleep(Duration::from_millis(600)).await; // two more lag probes
    assert_eq!(
        metric(&h.metrics().await, &lag),
        Some(5.0),
        "still uncommitted while ClickHouse is away"
    );
    let n: u64 =
        h.db.query(count)
            .bind("acme")
            .fetch_one()
            .await
            .expect("count");
    assert_eq!(n, 1);

    // ClickHouse is back on the same address: the consumer catches up.
    let listener = TcpListener::bind(proxy_addr).await.expect("rebind");
    proxy_task = tokio::spawn(proxy(listener, target));
    assert_eq!(h.wait_count(count, "acme", 6).await, 6);
    h.wait_metric(&lag, |v| v == 0.0).await;
    h.wait_ready(&readyz, 200, "ready").await;
    let n: u64 =
        h.db.query(count)
            .bind("acme")
            .fetch_one()
            .await
            .expect("count");
    assert_eq!(n, 6, "each event once");

    consumers.stop().await;
    proxy_task.abort();
    h.stop().await;
}
