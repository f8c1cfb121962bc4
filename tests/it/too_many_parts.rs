//! "ClickHouse 'too many parts' or a slow server: the consumer slows down
//! (bigger batches, backoff), it does not crash-loop." Against the real
//! ClickHouse: the test's `events` table throws at 3 active parts per
//! partition and its merges are stopped, so the 4th INSERT is refused with
//! code 252 until the test lets the table merge.

use crate::common::{Harness, private_config};
use downpour::runtime::{self, Parts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_parts_slows_the_consumer_down_until_clickhouse_merges() {
    let mut cfg = private_config("parts");
    cfg.consumer.retry_max_ms = 400;
    cfg.consumer.lag_interval_ms = 200;
    runtime::migrate(&cfg).await.expect("migrate");
    // Recreate `events` as it is, but throwing at 3 active parts, and stop
    // its merges (18.16 checks the throw bound only past the delay bound).
    let db = downpour::sink::clickhouse::database(&cfg.clickhouse).unwrap();
    let create: String = db
        .query("SHOW CREATE TABLE events")
        .fetch_one()
        .await
        .expect("show create");
    assert!(create.contains("index_granularity = 8192"), "{create}");
    let create = create.replace(
        "index_granularity = 8192",
        "index_granularity = 8192, parts_to_throw_insert = 3, parts_to_delay_insert = 3",
    );
    db.query("DROP TABLE events").execute().await.expect("drop");
    db.query_raw(&create).execute().await.expect("create");
    let table = format!("{}.events", cfg.clickhouse.database);
    let merges = |verb: &str| format!("SYSTEM {verb} MERGES {table}");
    db.query(&merges("STOP"))
        .execute()
        .await
        .expect("stop merges");
    let parts = Parts {
        edge: true,
        consumers: true,
    };
    let h = Harness::start_with(cfg, parts, false).await;
    let key = h.write_key("acme").await;
    let count = "SELECT count() FROM events_view WHERE org = ?";
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
    // Three INSERTs, three parts in the acme/default partition.
    for i in 0..3 {
        post(i).await;
        assert_eq!(
            h.wait_count(count, "acme", i as u64 + 1).await,
            i as u64 + 1
        );
    }
    // The fourth is refused: the consumer backs off and slows down, and keeps
    // the records uncommitted (the lag says so).
    post(3).await;
    post(4).await;
    // Series of this test's topic only: other tests' consumers share the process.
    let topic = format!("{}downpour.events", h.cfg.kafka.topic_prefix);
    let pressure = format!(
        "downpour_insert_retries_total{{stream=\"events\",kind=\"pressure\",topic=\"{topic}\"}}"
    );
    let slowdown = format!("downpour_consumer_slowdown{{stream=\"events\",topic=\"{topic}\"}}");
    let backoff =
        format!("downpour_consumer_backoff_seconds{{stream=\"events\",topic=\"{topic}\"}}");
    let first = h.wait_metric(&pressure, |v| v >= 1.0).await;
    h.wait_metric(&slowdown, |v| v >= 2.0).await;
    h.wait_metric(&backoff, |v| v > 0.0).await;
    h.wait_metric(&pressure, |v| v >= first + 2.0).await; // still retrying, not crashed
    let lag = format!("downpour_consumer_lag{{topic=\"{topic}\"");
    h.wait_metric(&lag, |v| v >= 2.0).await;
    let n: u64 =
        h.db.query(count)
            .bind("acme")
            .fetch_one()
            .await
            .expect("count");
    assert_eq!(n, 3, "nothing more while ClickHouse refuses");

    // ClickHouse merges again: the consumer catches up, each event once.
    h.db.query(&merges("START"))
        .execute()
        .await
        .expect("start merges");
    h.db.query("OPTIMIZE TABLE events")
        .execute()
        .await
        .expect("optimize");
    assert_eq!(h.wait_count(count, "acme", 5).await, 5);
    h.wait_metric(&backoff, |v| v == 0.0).await;
    h.stop().await;
}
