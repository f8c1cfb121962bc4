//! "A registry outage must not stop ingest for projects already cached (serve
//! stale, with a metric)": ClickHouse is reached through a proxy this test
//! cuts, while the broker stays up.

use std::time::Duration;

use crate::common::{Harness, metric, private_config, proxy};
use downpour::registry::keys::Role;
use downpour::runtime::Parts;
use serde_json::json;
use tokio::net::TcpListener;

const EVENT: &str = r#"[{"user_id": "u", "event": "e"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_projects_keep_ingesting_while_the_registry_is_down() {
    let mut cfg = private_config("outage");
    downpour::runtime::migrate(&cfg).await.expect("migrate");
    let direct = cfg.clickhouse.url.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxied = format!("http://{}", listener.local_addr().expect("addr"));
    let target = direct
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let proxy_task = tokio::spawn(proxy(listener, target));
    cfg.clickhouse.url = proxied;
    cfg.edge.key_cache_ttl_ms = 200;
    cfg.registry.cache_ttl_ms = 200;
    cfg.registry.stale_grace_ms = 3_000;
    let h = Harness::start_with(
        cfg,
        Parts {
            edge: true,
            consumers: false,
        },
        false,
    )
    .await;
    let owner = h.key("acme", None, Role::Owner).await;
    let key = h.write_key("acme").await;
    assert_eq!(
        h.call(
            "POST",
            "/v1/projects",
            &owner,
            Some(json!({"slug": "live"}))
        )
        .await
        .status,
        201
    );
    for project in [None, Some("live")] {
        assert_eq!(
            h.post("/v1/events/track", Some(&key), project, EVENT)
                .await
                .status,
            204
        );
    }

    let stale = "downpour_registry_stale_total";
    let stale_before = metric(&h.metrics().await, stale).unwrap_or(0.0);
    proxy_task.abort();
    let _ = proxy_task.await;
    tokio::time::sleep(Duration::from_millis(500)).await; // both caches expired

    for project in [None, Some("live")] {
        let r = h.post("/v1/events/track", Some(&key), project, EVENT).await;
        assert_eq!(r.status, 204, "{project:?} during the outage: {}", r.body);
    }
    // What was never seen cannot be decided: a clean 503, never a 204.
    let r = h
        .post("/v1/events/track", Some(&key), Some("brand-new"), EVENT)
        .await;
    assert_eq!(
        (r.status, r.retry_after.as_deref()),
        (503, Some("1")),
        "{}",
        r.body
    );
    let stale_after = metric(&h.metrics().await, stale).unwrap_or(0.0);
    assert!(
        stale_after > stale_before,
        "stale serving is counted: {stale_before} -> {stale_after}"
    );
    // Stale is bounded: past the grace period (3 s after the last load) the
    // last view is no longer served, so a key revoked or a project archived
    // during an outage stops being honoured within that bound.
    let cut = std::time::Instant::now();
    let r = loop {
        let r = h
            .post("/v1/events/track", Some(&key), Some("live"), EVENT)
            .await;
        if r.status != 204 {
            break r;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(20),
            "stale view served past its grace period"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(r.status, 503, "{}", r.body);
    // Stop, then drop the private database directly (the proxy is gone).
    let mut h = h;
    if let Some(running) = h.running.take() {
        running.stop().await;
    }
    let mut direct_cfg = h.cfg.clickhouse.clone();
    direct_cfg.url = direct;
    let server = downpour::sink::clickhouse::server(&direct_cfg).unwrap();
    let drop = format!("DROP DATABASE IF EXISTS {}", h.cfg.clickhouse.database);
    server.query(&drop).execute().await.expect("drop");
}
