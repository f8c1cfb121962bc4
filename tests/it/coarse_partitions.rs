//! The move to coarse partitions (issue 14, sql/0013_coarse_partitions.sql),
//! against the real ClickHouse 18.16 and broker: a deployment on the schema
//! of the previous release, its tables partitioned by project, migrates
//! while its edge and consumer keep running and requests keep coming. No
//! row is lost or shown twice, the copies the Query API reads follow the
//! new tables, the consumer of the next start sends whole batches in one
//! INSERT, and running the migration again (a run that stopped before it
//! was recorded) loses nothing either.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use downpour::sink::partitioning::Partitioning;
use downpour::sink::schema::MIGRATIONS;
use serde_json::json;

use crate::common::{Harness, private_config};

const ORG: &str = "coarse";
const PROJECTS: [&str; 3] = ["alpha", "beta", "gamma"];
const DATA_TABLES: [&str; 7] = [
    "events",
    "signals",
    "users",
    "partial_events",
    "spans",
    "events_by_time",
    "events_by_user",
];

/// Posts one request of 10 events, spread over the projects, a signal and
/// an identify; returns the events' count.
async fn post_events(h: &Harness, key: &str, round: u64) -> u64 {
    let project = PROJECTS[(round % 3) as usize];
    let signal = json!([{"event_id": format!("r{round}-0"), "signal_name": "thumbs_up"}]);
    let identify = json!({"user_id": format!("user-{round}"), "traits": {"round": round}});
    for (path, body) in [
        ("/v1/signals/track", signal),
        ("/v1/users/identify", identify),
    ] {
        let r = h
            .post(path, Some(key), Some(project), &body.to_string())
            .await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
    }
    post_batch(h, key, round).await
}

async fn post_batch(h: &Harness, key: &str, round: u64) -> u64 {
    let project = PROJECTS[(round % 3) as usize];
    let batch: Vec<_> = (0..10)
        .map(|i| json!({"event_id": format!("r{round}-{i}"), "user_id": format!("u{i}"), "event": "chat"}))
        .collect();
    let r = h
        .post(
            "/v1/events/track",
            Some(key),
            Some(project),
            &json!(batch).to_string(),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    10
}

/// Every event readable once through the view and in both copies, and
/// every round's signal and user once.
async fn assert_all_readable(h: &Harness, sent: u64, rounds: u64) {
    let signals = "SELECT count() FROM signals_view WHERE org = ?";
    assert_eq!(h.wait_count(signals, ORG, rounds).await, rounds);
    let users = "SELECT count() FROM users_view WHERE org = ?";
    assert_eq!(h.wait_count(users, ORG, rounds).await, rounds);
    let view = "SELECT count() FROM events_view WHERE org = ?";
    assert_eq!(h.wait_count(view, ORG, sent).await, sent);
    // The copy may hold a row twice until it merges (a row inserted during
    // the swap), never miss one.
    let copy = "SELECT uniqExact(event_id) FROM events_by_user WHERE org = ?";
    assert_eq!(h.wait_count(copy, ORG, sent).await, sent);
    let by_time = "SELECT uniqExact(event_id) FROM events_by_time WHERE org = ?";
    assert_eq!(h.wait_count(by_time, ORG, sent).await, sent);
}

async fn partition_keys(h: &Harness) -> Vec<(String, String)> {
    h.db.query(
        "SELECT name, partition_key FROM system.tables \
         WHERE database = currentDatabase() AND engine LIKE '%MergeTree' \
         AND name IN ('events', 'signals', 'users', 'partial_events', 'spans', \
                      'events_by_time', 'events_by_user') ORDER BY name",
    )
    .fetch_all()
    .await
    .expect("partition keys")
}

async fn leftovers(h: &Harness) -> Vec<String> {
    h.db.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() \
         AND (name LIKE '%\\\\_by\\\\_project' OR name LIKE '%\\\\_by\\\\_month')",
    )
    .fetch_all()
    .await
    .expect("tables")
}

/// Runs the full migration while a task keeps posting; returns what it sent.
async fn migrate_under_traffic(h: &Arc<Harness>, key: &str, from_round: u64) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rounds = Arc::new(AtomicU64::new(from_round));
    let poster = {
        let (h, key, stop, sent, rounds) = (
            h.clone(),
            key.to_string(),
            stop.clone(),
            sent.clone(),
            rounds.clone(),
        );
        tokio::spawn(async move {
            // At least a few requests after the migration, whatever its speed.
            let mut after = 0;
            while after < 5 {
                if stop.load(Ordering::SeqCst) {
                    after += 1;
                }
                let round = rounds.fetch_add(1, Ordering::SeqCst);
                sent.fetch_add(post_events(&h, &key, round).await, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Some traffic before the migration starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let applied = downpour::runtime::migrate(&h.cfg).await.expect("migrate");
    assert!(
        applied.iter().any(|v| v == "0013_coarse_partitions"),
        "{applied:?}"
    );
    stop.store(true, Ordering::SeqCst);
    poster.await.expect("poster");
    (sent.load(Ordering::SeqCst), rounds.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_partitioned_by_project_move_to_months_under_traffic_losing_nothing() {
    let cfg = private_config("coarse");
    // The schema of the release before: every migration up to 0012.
    let before = MIGRATIONS
        .iter()
        .position(|(v, _)| *v == "0013_coarse_partitions")
        .expect("listed");
    downpour::runtime::migrate_with(&cfg, &MIGRATIONS[..before])
        .await
        .expect("old schema");
    let parts = downpour::runtime::Parts {
        edge: true,
        consumers: true,
    };
    let h = Arc::new(Harness::start_with(cfg, parts, false).await);
    let key = h.write_key(ORG).await;
    for (table, key) in partition_keys(&h).await {
        assert_eq!(key, "(org, project)", "{table}");
    }
    assert_eq!(
        Partitioning::of(&h.db, "events").await,
        Partitioning::ByProject
    );

    let mut sent = 0;
    for round in 0..6 {
        sent += post_events(&h, &key, round).await;
    }
    assert_all_readable(&h, sent, 6).await;

    // The migration, while the edge and the consumer keep working.
    let (during, next_round) = migrate_under_traffic(&h, &key, 6).await;
    sent += during;
    assert_all_readable(&h, sent, next_round).await;
    let keys = partition_keys(&h).await;
    assert_eq!(keys.len(), DATA_TABLES.len(), "{keys:?}");
    for (table, key) in &keys {
        assert_eq!(key, "toYYYYMM(received_at)", "{table}");
    }
    assert_eq!(leftovers(&h).await, Vec::<String>::new());
    assert_eq!(
        Partitioning::of(&h.db, "events").await,
        Partitioning::Coarse
    );
    assert_eq!(Partitioning::of(&h.db, "spans").await, Partitioning::Coarse);
    // Every project's rows still under it.
    let per_project: Vec<(String, u64)> = h
        .rows(
            "SELECT project, count() FROM events_view WHERE org = ? GROUP BY project ORDER BY project",
            ORG,
        )
        .await;
    assert_eq!(per_project.len(), PROJECTS.len(), "{per_project:?}");
    assert_eq!(per_project.iter().map(|(_, n)| n).sum::<u64>(), sent);

    // A run that stopped before recording the migration runs it again.
    h.db.query("ALTER TABLE schema_migrations DELETE WHERE version = '0013_coarse_partitions'")
        .execute()
        .await
        .expect("forget 0013");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: u64 = h
            .db
            .query("SELECT count() FROM schema_migrations WHERE version = '0013_coarse_partitions'")
            .fetch_one()
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the mutation did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (again, last_round) = migrate_under_traffic(&h, &key, next_round).await;
    sent += again;
    assert_all_readable(&h, sent, last_round).await;
    assert_eq!(leftovers(&h).await, Vec::<String>::new());
    // The feeds exist once each, on the new `events`.
    let feeds: Vec<String> =
        h.db.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() \
             AND engine = 'MaterializedView' AND name LIKE 'event%' ORDER BY name",
        )
        .fetch_all()
        .await
        .expect("feeds");
    assert_eq!(
        feeds,
        [
            "event_time_span_feed_v2",
            "events_by_time_feed_v3",
            "events_by_user_feed_v3"
        ]
    );

    let h = Arc::into_inner(h).expect("one owner");
    h.stop().await;
}
