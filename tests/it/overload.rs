//! The edge's memory under load is bounded by configuration, and the
//! consumer's lag is visible to an operator.
//!
//! The performance issue: "overload (broker stalled): edge memory bounded by
//! configuration; 503 + `Retry-After`, never unbounded queues". Request
//! bodies in flight are bounded by `edge.max_inflight_body_bytes` (each
//! request holds twice its body); the producer queue by
//! `kafka.queue_max_kbytes`. The reliability issue: "no lag metric lies" —
//! `downpour consumer` serves `downpour_consumer_lag` on
//! `consumer.metrics_listen`.

use crate::common::{DEADLINE, Harness, private_config};
use downpour::runtime::Parts;
use tokio::io::AsyncWriteExt;

fn event(id: &str, pad: usize) -> String {
    format!(
        r#"[{{"event_id":"{id}","user_id":"u1","event":"e","properties":{{"pad":"{}"}}}}]"#,
        "x".repeat(pad)
    )
}

#[tokio::test]
async fn bodies_beyond_the_in_flight_budget_get_503_and_the_budget_is_given_back() {
    let mut cfg = private_config("overload_budget");
    // 100 KiB: one 40 KB body reserves 80 KiB; a second one does not fit
    // while the first is in flight.
    cfg.edge.max_inflight_body_bytes = 100 * 1024;
    let h = Harness::start_cfg(cfg).await;
    let key = h.write_key("acme").await;

    // A client that declares 40 KB and sends a few bytes, then stalls: its
    // reservation is held while the edge waits for the rest.
    let addr = h.base.trim_start_matches("http://").to_string();
    let mut holder = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/events/track HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: 40000\r\n\r\n[{{"
    );
    holder.write_all(head.as_bytes()).await.expect("head sent");

    let started = std::time::Instant::now();
    let refused = loop {
        let id = format!("while-held-{}", started.elapsed().as_micros());
        let r = h
            .post("/v1/events/track", Some(&key), None, &event(&id, 40_000))
            .await;
        if r.status != 204 {
            break r;
        }
        assert!(started.elapsed() < DEADLINE, "never refused while held");
    };
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    assert_eq!(refused.error()["type"], "unavailable");

    // The stalled client goes away: its share comes back.
    drop(holder);
    let started = std::time::Instant::now();
    loop {
        let r = h
            .post(
                "/v1/events/track",
                Some(&key),
                None,
                &event("after", 40_000),
            )
            .await;
        if r.status == 204 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(started.elapsed() < DEADLINE, "budget never given back");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Sequential requests that each take most of the budget: every one
    // succeeds only if the previous one gave its share back.
    for i in 0..20 {
        let r = h
            .post(
                "/v1/events/track",
                Some(&key),
                None,
                &event(&format!("ok-{i}"), 40_000),
            )
            .await;
        assert_eq!(r.status, 204, "request {i}: {}", r.body);
    }
    let n = h
        .wait_count(
            "SELECT count() FROM events_view WHERE org = ? AND event_id LIKE 'ok-%'",
            "acme",
            20,
        )
        .await;
    assert_eq!(n, 20);
    h.stop().await;
}

#[tokio::test]
async fn a_consumer_process_serves_its_lag_on_metrics() {
    let mut cfg = private_config("overload_lag");
    cfg.consumer.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.consumer.lag_interval_ms = 100;
    let h = Harness::start_with(
        cfg,
        Parts {
            edge: false,
            consumers: true,
        },
        true,
    )
    .await;
    let addr = h
        .running
        .as_ref()
        .and_then(|r| r.metrics_addr)
        .expect("a consumer-only process serves metrics");
    let topic = format!("{}downpour.events", h.cfg.kafka.topic_prefix);
    let started = std::time::Instant::now();
    loop {
        let text = h
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .unwrap_or_default();
        if text
            .lines()
            .any(|l| l.starts_with("downpour_consumer_lag{") && l.contains(&topic))
        {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no lag gauge for {topic} in:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Ready once every pipeline's member holds its partitions and
    // ClickHouse answers (docs/RELIABILITY.md, the stall watchdog).
    h.wait_ready(&format!("http://{addr}/readyz"), 200, "ready")
        .await;
    h.stop().await;
}
