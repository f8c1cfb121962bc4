//! downpour on a ClickHouse cluster (issue 14, part 1): 2 shards × 2
//! replicas of ClickHouse 18.16 with ZooKeeper, started by
//! `scripts/components.sh start-cluster` (the test command starts it).
//!
//! - The cluster form of the schema (`sql/cluster/`) gives readers the
//!   tables and views of the one-server schema, column for column.
//! - Under load, one replica of each shard is killed (SIGKILL) and brought
//!   back: every event answered 204 is readable exactly once through the
//!   Distributed tables, each project's rows are on one shard (the one
//!   `shard_of` names), and the replicas of each shard converge; then a
//!   retention sweep per shard deletes the rows on every replica.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use downpour::config::{ClickHouseConfig, Config};
use downpour::runtime;
use downpour::sink::retention::{Outcome, Sweep, Sweeper};
use downpour::sink::shards::shard_of;
use serde_json::json;
use tokio::sync::Mutex;

use crate::common::{Harness, drop_database, metric, private_config};

const ORG: &str = "clustered";

/// One test on the cluster at a time: the load test takes servers down.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Enough projects that both shards get some.
const PROJECTS: usize = 12;

/// The cluster's shards (`DOWNPOUR_TEST_CLUSTER_SHARDS`, or the file
/// `components.sh start-cluster` writes, for a test run by hand).
fn shards() -> Vec<String> {
    let text = std::env::var("DOWNPOUR_TEST_CLUSTER_SHARDS").unwrap_or_else(|_| {
        let run = std::env::var("DOWNPOUR_RUN_DIR")
            .unwrap_or_else(|_| format!("{}/.run/test", env!("CARGO_MANIFEST_DIR")));
        let env = std::fs::read_to_string(format!("{run}/cluster/env"))
            .expect("no cluster: run scripts/components.sh start-cluster (scripts/test.sh does)");
        env.lines()
            .find_map(|l| l.strip_prefix("export DOWNPOUR_TEST_CLUSTER_SHARDS="))
            .expect("DOWNPOUR_TEST_CLUSTER_SHARDS in the cluster's env")
            .trim_matches('\'')
            .to_string()
    });
    serde_json::from_str(&text).expect("a JSON list of shards")
}

/// A private configuration on the cluster (`url`: shard 1's first replica).
fn cluster_config(name: &str) -> Config {
    let mut cfg = private_config(name);
    let shards = shards();
    cfg.clickhouse.cluster = "downpour".into();
    cfg.clickhouse.url = shards[0].split(',').next().expect("a replica").to_string();
    cfg.clickhouse.shards = shards;
    cfg
}

/// A client of one server of the cluster, in the test's database.
fn server(cfg: &Config, url: &str) -> clickhouse::Client {
    downpour::sink::clickhouse::database(&ClickHouseConfig {
        url: url.to_string(),
        ..cfg.clickhouse.clone()
    })
    .expect("client")
}

/// `scripts/components.sh <verb> S R` on the test's cluster.
fn components(verb: &str, shard: u32, replica: &str) {
    let status = std::process::Command::new(format!(
        "{}/scripts/components.sh",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args([verb, &shard.to_string(), replica])
    .status()
    .expect("components.sh");
    assert!(status.success(), "components.sh {verb} {shard} {replica}");
}

/// The test org's distinct events per project in `url`'s `events_local`
/// (empty while the server does not answer).
async fn per_project(cfg: &Config, url: &str) -> Vec<(String, u64)> {
    server(cfg, url)
        .query(
            "SELECT project, uniqExact(event_id) FROM events_local \
             WHERE org = ? GROUP BY project ORDER BY project",
        )
        .bind(ORG)
        .fetch_all()
        .await
        .unwrap_or_default()
}

#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    table: String,
    name: String,
    r#type: String,
}

async fn columns(db: &clickhouse::Client) -> BTreeMap<String, Vec<(String, String)>> {
    let rows: Vec<Column> = db
        .query(
            "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() \
             AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() \
             AND engine != 'MaterializedView' AND name != 'schema_migrations' \
             AND name NOT LIKE '%\\_local') ORDER BY table, name",
        )
        .fetch_all()
        .await
        .expect("columns");
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in rows {
        out.entry(c.table).or_default().push((c.name, c.r#type));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_schema_gives_readers_the_tables_of_one_server() {
    let _alone = CLUSTER.lock().await;
    let cluster = cluster_config("cluster_schema");
    let mut single = private_config("cluster_schema_single");
    single.clickhouse.url = cluster.clickhouse.url.clone();
    runtime::migrate(&cluster).await.expect("cluster migrate");
    // Twice: every statement can run again.
    runtime::migrate(&cluster)
        .await
        .expect("cluster migrate again");
    runtime::migrate(&single).await.expect("single migrate");
    let url = cluster.clickhouse.url.clone();
    let on_cluster = columns(&server(&cluster, &url)).await;
    let on_one = columns(&server(&single, &url)).await;
    assert!(on_one.contains_key("events") && on_one.contains_key("projects"));
    assert_eq!(
        on_cluster.keys().collect::<Vec<_>>(),
        on_one.keys().collect::<Vec<_>>()
    );
    for (table, cols) in &on_one {
        // A view's DateTime may name its zone ('Etc/UTC') on one side only.
        let plain = |c: &Vec<(String, String)>| -> Vec<(String, String)> {
            c.iter()
                .map(|(n, t)| (n.clone(), t.replace("DateTime('Etc/UTC')", "DateTime")))
                .collect()
        };
        assert_eq!(plain(&on_cluster[table]), plain(cols), "{table}");
    }
    // Every server holds the schema, and knows itself part of the cluster.
    for url in cluster.clickhouse.replica_urls().iter().flatten() {
        let engines: Vec<(String, String)> = server(&cluster, url)
            .query(
                "SELECT name, engine FROM system.tables WHERE database = currentDatabase() \
                 AND name IN ('events', 'events_local', 'projects') ORDER BY name",
            )
            .fetch_all()
            .await
            .expect("tables");
        assert_eq!(
            engines,
            vec![
                ("events".into(), "Distributed".into()),
                ("events_local".into(), "ReplicatedReplacingMergeTree".into()),
                ("projects".into(), "ReplicatedReplacingMergeTree".into()),
            ],
            "{url}"
        );
    }
    // A replica listed under the wrong shard is refused before any DDL.
    let mut crossed = cluster.clone();
    let urls = cluster.clickhouse.replica_urls();
    crossed.clickhouse.shards = vec![
        format!("{},{}", urls[0][0], urls[1][0]),
        format!("{},{}", urls[0][1], urls[1][1]),
    ];
    let refused = runtime::migrate(&crossed)
        .await
        .expect_err("crossed shards");
    assert!(refused.to_string().contains("mixes shards"), "{refused}");
    // A cluster of another shape is refused before any DDL.
    let mut wrong = cluster.clone();
    wrong.clickhouse.shards.truncate(1);
    let refused = runtime::migrate(&wrong)
        .await
        .expect_err("one shard of two");
    assert!(refused.to_string().contains("2 shards"), "{refused}");
    drop_database(&cluster).await;
    drop_database(&single).await;
}

/// Posts batches of 20 events round-robin over the projects until `stop`;
/// returns the ids answered 204 and how many requests were refused.
async fn post_until(
    h: Arc<Harness>,
    key: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<HashSet<String>>>,
) -> u64 {
    let mut refused = 0;
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let project = format!("p{}", round % PROJECTS as u64);
        let ids: Vec<String> = (0..20).map(|i| format!("c{round}-{i}")).collect();
        let body: Vec<_> = ids
            .iter()
            .map(
                |id| json!({"event_id": id, "user_id": format!("u{}", round % 5), "event": "chat"}),
            )
            .collect();
        let r = h
            .post(
                "/v1/events/track",
                Some(&key),
                Some(&project),
                &json!(body).to_string(),
            )
            .await;
        if r.status == 204 {
            acked.lock().await.extend(ids);
        } else {
            refused += 1;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_each_shard_killed_under_load_loses_and_doubles_nothing() {
    let _alone = CLUSTER.lock().await;
    let cfg = cluster_config("cluster_load");
    let h = Arc::new(Harness::start_cfg(cfg.clone()).await);
    let key = h.write_key(ORG).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let load = tokio::spawn(post_until(
        h.clone(),
        key.clone(),
        stop.clone(),
        acked.clone(),
    ));
    // Shard 1 loses its second replica, shard 2 its first (the one its
    // writes start on); the edge's and the readers' server stays up.
    let wait_acked = |n: usize| {
        let acked = acked.clone();
        async move {
            let started = Instant::now();
            while acked.lock().await.len() < n && started.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_acked(1_000).await;
    components("kill-replica", 1, "r2");
    components("kill-replica", 2, "r1");
    let killed_at = acked.lock().await.len();
    wait_acked(killed_at + 2_000).await;
    components("start-replica", 1, "r2");
    components("start-replica", 2, "r1");
    let back_at = acked.lock().await.len();
    wait_acked(back_at + 1_000).await;
    stop.store(true, Ordering::Relaxed);
    let refused = load.await.expect("load task");
    let acked: HashSet<String> = acked.lock().await.clone();
    assert!(
        killed_at < back_at && back_at < acked.len(),
        "load ran through the outage"
    );

    // Every 204'd id, exactly once, through the Distributed tables.
    let sent = acked.len() as u64;
    let seen = h
        .wait_count("SELECT count() FROM events_view WHERE org = ?", ORG, sent)
        .await;
    // Each project on one shard, the one shard_of names: both replicas of
    // each shard come to hold exactly its projects' acknowledged events
    // (ids `c<round>-<i>` went to project `p<round % PROJECTS>`).
    let shards = cfg.clickhouse.replica_urls();
    let mut expected: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); shards.len()];
    for id in &acked {
        let round: u64 = id[1..id.find('-').expect("c<round>-<i>")]
            .parse()
            .expect("round");
        let project = format!("p{}", round % PROJECTS as u64);
        let shard = shard_of(format!("{ORG}/{project}").as_bytes(), shards.len());
        *expected[shard].entry(project).or_default() += 1;
    }
    assert!(
        expected.iter().all(|e| !e.is_empty()),
        "both shards get projects"
    );
    for (index, replicas) in shards.iter().enumerate() {
        let want: Vec<(String, u64)> = expected[index].clone().into_iter().collect();
        for url in replicas {
            let started = Instant::now();
            loop {
                let rows = per_project(&cfg, url).await;
                if rows == want {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "shard {index} replica {url}: {rows:?}, want {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(
        refused, 0,
        "requests refused while ClickHouse replicas were down"
    );

    // Read once all is in and both replicas of each shard agree: whichever
    // replica a read reaches answers the same.
    let ids: Vec<String> = h
        .rows("SELECT event_id FROM events_view WHERE org = ?", ORG)
        .await;
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "an event shown twice");
    assert!(
        acked.is_subset(&unique),
        "{} of {sent} answered 204 missing",
        acked.difference(&unique).count()
    );
    assert_eq!(seen, sent);
    // The copies the Query API reads are complete too.
    let by_time = h
        .wait_count(
            "SELECT uniqExact(event_id) FROM events_by_time WHERE org = ?",
            ORG,
            sent,
        )
        .await;
    assert_eq!(by_time, sent);

    // A second consumer group reads the topic again from the start (as
    // after a crash between INSERT and commit): every row is stored again,
    // on the same shard, and still read once.
    let written = format!(
        "downpour_consumer_rows_total{{stream=\"events\",topic=\"{}downpour.events\"}}",
        cfg.kafka.topic_prefix
    );
    let before = metric(&h.metrics().await, &written).unwrap_or(0.0);
    assert!(before >= sent as f64, "{written}: {before}");
    let replayer = h.replayer().await;
    h.wait_metric(&written, |rows| rows >= before + sent as f64)
        .await;
    let again: Vec<String> = h
        .rows("SELECT event_id FROM events_view WHERE org = ?", ORG)
        .await;
    assert_eq!(again.len() as u64, sent, "read once after the replay");
    // The replay wrote each project to its own shard again: no replica
    // holds a project of another shard (the replica written to has them all).
    for (index, replicas) in shards.iter().enumerate() {
        for url in replicas {
            for (project, _) in per_project(&cfg, url).await {
                assert!(
                    expected[index].contains_key(&project),
                    "{project} on shard {index} ({url})"
                );
            }
        }
    }
    if let Some(running) = replayer.running {
        running.stop().await;
    }
    let text = h.metrics().await;
    let failovers = metric(&text, "downpour_clickhouse_replica_failovers_total").unwrap_or(0.0);
    assert!(
        failovers >= 1.0,
        "shard 2's first replica was down: {failovers}"
    );
    eprintln!(
        "cluster: {sent} events answered 204 ({refused} requests refused), \
         {failovers} writes sent to the other replica"
    );

    // Retention on 18.16 (no TTL): one sweeper per shard mutates its local
    // tables, and the mutation reaches the other replica.
    let sweepers = Sweeper::of(&cfg.clickhouse).expect("sweepers");
    assert_eq!(sweepers.len(), 2);
    let far = u32::try_from(chrono::Utc::now().timestamp()).expect("now") + 400 * 86_400;
    for sweeper in &sweepers {
        let swept = sweeper.sweep(Sweep::Rows, far).await.expect("sweep");
        assert!(
            swept
                .iter()
                .any(|(t, o)| *t == "events" && matches!(o, Outcome::Mutated(_)))
        );
    }
    for url in cfg.clickhouse.replica_urls().iter().flatten() {
        let started = Instant::now();
        loop {
            let left: u64 = server(&cfg, url)
                .query("SELECT count() FROM events_local WHERE org = ?")
                .bind(ORG)
                .fetch_one()
                .await
                .expect("count");
            if left == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{url}: {left} rows not deleted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    match Arc::try_unwrap(h) {
        Ok(h) => h.stop().await,
        Err(_) => panic!("the load task holds the harness"),
    }
}
