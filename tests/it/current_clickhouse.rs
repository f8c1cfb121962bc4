//! Current ClickHouse, embedded (chdb-core, pinned by `scripts/components.sh chdb`).
//!
//! docs/CONTRACT.md §C21: the test server is ClickHouse 18.16, and the SQL
//! must run on it and on current ClickHouse (what docker-compose uses). chdb
//! is how this is proven: `sql/` runs on current ClickHouse (which has TTL,
//! DateTime64, LowCardinality), and rows encoded by downpour load there too
//! (`INSERT INTO t FROM INFILE 'rows.bin' FORMAT RowBinary`).
//!
//! This test runs every statement of every migration exactly as `migrate`
//! splits it, loads rows the edge's own encoder produced for each stream, and
//! reads them back through the `*_view` views readers use.

use std::path::{Path, PathBuf};
use std::process::Command;

use downpour::bus::record;
use downpour::edge::validate::{Envelope, encode};
use downpour::pipeline::{self, StreamKind};
use downpour::registry::projects::Retention;
use downpour::sink::schema;
use serde_json::{Value, json};

const ORG: &str = "cur-org";
const PROJECT: &str = "support-prod";
/// 2026-11-18 11:06:40 UTC, in microseconds.
const RECEIVED_US: u64 = 1_795_000_000_000_000;

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("downpour-chdb-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Far enough that nothing the first test loads expires while it runs
/// (its rows were received in November 2026).
const KEEP: Retention = Retention {
    body_hours: 10 * 365 * 24,
    log_days: 10 * 365,
};

/// Encodes `body` as the edge does and returns the RowBinary rows (record
/// headers stripped), ready for `INSERT ... FORMAT RowBinary`.
fn rows(kind: StreamKind, body: &Value, received_us: u64) -> Vec<u8> {
    rows_kept(kind, body, received_us, KEEP)
}

/// [`rows`] of a project whose retention is `retention`.
fn rows_kept(kind: StreamKind, body: &Value, received_us: u64, retention: Retention) -> Vec<u8> {
    let pipelines = pipeline::load(None).expect("built-in pipelines");
    let limits = &pipelines
        .iter()
        .find(|p| p.kind == kind)
        .expect("a pipeline of this kind")
        .limits;
    let mut bytes = serde_json::to_vec(body).expect("JSON");
    let env = Envelope {
        redaction: None,
        retention,
        org: ORG,
        project: PROJECT,
        received_us,
    };
    let encoded = encode(kind, limits, &mut bytes, &env).expect("the edge accepts the request");
    let mut out = Vec::new();
    for rec in &encoded.records {
        out.extend_from_slice(record::parse(rec, kind).expect("a record").body);
    }
    out
}

fn table(kind: StreamKind) -> &'static str {
    kind.schema().table
}

/// `YYYY-MM-DD hh:mm:ss` in UTC, as ClickHouse prints a `DateTime`.
fn datetime(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("in range")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn python() -> String {
    std::env::var("DOWNPOUR_CHDB_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/downpour/venv-chdb/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

fn json_str(v: &Value) -> Value {
    serde_json::from_str(v.as_str().expect("a JSON string column")).expect("valid JSON")
}

/// Every statement of every migration, split exactly as `migrate` splits
/// it, written for apply.py; checks that chdb runs all of them (it is newer
/// than any migration's floor). Returns the file and the statement count.
fn write_statements(python: &str, dir: &TempDir) -> (PathBuf, usize) {
    let engine = Command::new(python)
        .args(["-c", "import chdb; print(chdb.engine_version)"])
        .output()
        .expect("python runs");
    let engine = String::from_utf8_lossy(&engine.stdout).trim().to_string();
    let server = schema::server_version(&engine).expect("chdb's engine version");
    assert!(
        schema::MIGRATIONS
            .iter()
            .all(|(_, sql)| schema::runs_on(sql, server)),
        "chdb {engine} runs every migration, the version-gated ones too"
    );
    let migrations: Vec<(&str, String)> = schema::MIGRATIONS
        .iter()
        .map(|(v, sql)| (*v, sql.to_string()))
        .collect();
    let (file, count) = statements_file(dir, "statements.json", &migrations);
    assert!(count > 0);
    (file, count)
}

/// The python with chdb, checked.
fn chdb_python() -> String {
    let python = python();
    assert!(
        Path::new(&python).exists(),
        "{python} missing: run scripts/components.sh chdb (scripts/test.sh does), \
         or point DOWNPOUR_CHDB_PYTHON at a python with chdb-core"
    );
    python
}

/// Runs tests/chdb/apply.py: the migrations, then `loads` (each one
/// INSERT), then the merge of each `expire` table; its JSON answer.
fn apply(
    python: &str,
    dir: &TempDir,
    statements: &Path,
    loads: &[(StreamKind, Vec<u8>)],
    expire: &[&str],
) -> Value {
    let mut cmd = Command::new(python);
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chdb/apply.py"))
        .arg(dir.0.join("session"))
        .arg("downpour")
        .arg(statements)
        .args([
            "--event-id",
            "cur-1",
            "--partial-id",
            "pp-1",
            "--user-id",
            "user_123",
            "--span-id",
            SPAN_ID,
        ]);
    for table in expire {
        cmd.args(["--expire", table]);
    }
    for (i, (kind, bytes)) in loads.iter().enumerate() {
        let file = dir.0.join(format!("{i}-{}.bin", table(*kind)));
        std::fs::write(&file, bytes).unwrap();
        cmd.arg("--load")
            .arg(table(*kind))
            .arg(kind.schema().column_list)
            .arg(&file);
    }
    let output = cmd.output().expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "current ClickHouse (chdb) refused downpour's SQL or rows:\n{stderr}"
    );
    let r: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "apply.py printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    eprintln!("current ClickHouse {}: {r}", r["version"]);
    r
}

#[test]
fn sql_and_edge_rows_run_on_current_clickhouse() {
    let python = chdb_python();
    let dir = TempDir::new();
    // (a) Every statement of every migration, the version-gated ones too.
    let (statements_file, statements) = write_statements(&python, &dir);

    // (b) Requests of every stream, encoded by the edge.
    let event = json!([{
        "event_id": "cur-1",
        "user_id": "user_123",
        "event": "chat_message",
        "timestamp": "2026-11-23T20:00:00.123Z",
        "properties": {"plan": "pro", "tokens": 42, "nested": {"a": [1, 2.5, null, true]}},
        "attachments": [
            {"type": "text", "value": "ctx", "role": "context", "name": "notes"},
            {"type": "code", "value": "print(1)", "language": "python"}
        ],
        "ai_data": {
            "model": "gpt-4o",
            "input": "How do I reset my \"password\"? Привет ✓ \\ '",
            "output": "Settings > Security.",
            "convo_id": "convo_abc"
        }
    }]);
    let signals = json!([
        {"event_id": "cur-1", "signal_name": "thumbs_up"},
        {"event_id": "cur-1", "signal_name": "user_feedback", "signal_type": "feedback",
         "sentiment": "POSITIVE", "properties": {"comment": "Great"}}
    ]);
    let identify =
        |vip: bool| json!([{"user_id": "user_123", "traits": {"name": "Ada", "vip": vip}}]);
    let patch1 = json!({
        "event_id": "pp-1", "is_pending": true, "user_id": "user_456", "event": "agent_run",
        "ai_data": {"input": "Summarise #9"}, "properties": {"ticket": 9}
    });
    let patch2 = json!({"event_id": "pp-1", "is_pending": false, "ai_data": {"output": "Refund requested."}});

    let export = otlp_export();
    let once = rows(StreamKind::Events, &event, RECEIVED_US);
    // A record the consumer delivers twice: the same bytes, inserted twice.
    let twice = rows(StreamKind::Events, &event, RECEIVED_US);
    assert_eq!(
        once, twice,
        "encoding is deterministic for an event with an id"
    );
    let loads = [
        (StreamKind::Events, once),
        (StreamKind::Events, twice),
        (
            StreamKind::Signals,
            rows(StreamKind::Signals, &signals, RECEIVED_US),
        ),
        (
            StreamKind::Users,
            rows(StreamKind::Users, &identify(false), RECEIVED_US),
        ),
        (
            StreamKind::Users,
            rows(StreamKind::Users, &identify(true), RECEIVED_US + 1_000),
        ),
        (
            StreamKind::PartialEvents,
            rows(StreamKind::PartialEvents, &patch1, RECEIVED_US),
        ),
        (
            StreamKind::PartialEvents,
            rows(StreamKind::PartialEvents, &patch2, RECEIVED_US + 2_000_000),
        ),
        (StreamKind::Spans, span_rows(&export, RECEIVED_US, KEEP)),
    ];

    // (c) Schema and rows on current ClickHouse.
    let r = apply(&python, &dir, &statements_file, &loads, &[]);

    // (d) What readers see.
    assert_eq!(r["statements"], statements);
    let loaded: Vec<u64> = r["loaded"]
        .as_array()
        .expect("loads")
        .iter()
        .map(|l| l["rows"].as_u64().expect("row count"))
        .collect();
    assert_eq!(loaded, [1, 1, 2, 1, 1, 1, 1, 1], "rows per RowBinary load");

    assert_eq!(r["event_count"], 1, "cur-1 inserted twice, seen once: {r}");
    assert_eq!(
        r["events_view_count"], 2,
        "cur-1 and the finished pp-1: {r}"
    );
    let e = &r["event"];
    assert_eq!(e["org"], ORG);
    assert_eq!(e["project"], PROJECT);
    assert_eq!(e["event_id"], "cur-1");
    assert_eq!(e["user_id"], "user_123");
    assert_eq!(e["event"], "chat_message");
    assert_eq!(e["timestamp"], "2026-11-23 20:00:00");
    assert_eq!(e["timestamp_ms"], 1_795_464_000_123u64);
    assert_eq!(e["received_at"], datetime((RECEIVED_US / 1_000_000) as i64));
    assert_eq!(e["ai_model"], "gpt-4o");
    assert_eq!(
        e["ai_input"],
        "How do I reset my \"password\"? Привет ✓ \\ '"
    );
    assert_eq!(e["ai_output"], "Settings > Security.");
    assert_eq!(e["convo_id"], "convo_abc");
    assert_eq!(json_str(&e["properties"]), event[0]["properties"]);
    assert_eq!(json_str(&e["attachments"]), event[0]["attachments"]);
    assert_eq!(e["properties_truncated"], 0);

    let p = &r["partial_final"];
    assert_eq!(
        r["partial_in_events_view"], 1,
        "finished partial visible: {r}"
    );
    assert_eq!(p["event_id"], "pp-1");
    assert_eq!(p["user_id"], "user_456", "from patch 1: {p}");
    assert_eq!(p["event"], "agent_run", "from patch 1: {p}");
    assert_eq!(p["ai_input"], "Summarise #9", "from patch 1: {p}");
    assert_eq!(p["ai_output"], "Refund requested.", "from patch 2: {p}");
    assert_eq!(json_str(&p["properties"]), json!({"ticket": 9}));
    assert_eq!(json_str(&p["attachments"]), json!([]));
    assert_eq!(
        p["timestamp"],
        datetime((RECEIVED_US / 1_000_000) as i64),
        "the first patch's time"
    );
    assert_eq!(
        p["received_at"],
        datetime((RECEIVED_US / 1_000_000 + 2) as i64),
        "the last patch's receive time"
    );

    assert_eq!(r["signals_view_count"], 2, "{r}");
    assert_eq!(
        r["users_view_count"], 1,
        "two identify calls, one user: {r}"
    );
    assert_eq!(
        json_str(&r["user"]["traits"]),
        json!({"name": "Ada", "vip": true}),
        "the latest identify wins"
    );

    // Spans: the JSON columns, and the maps migration 0006 adds where the
    // server has the Map type (every value a string).
    let s = &r["span"];
    assert_eq!(s["event_id"], "cur-1", "{s}");
    assert_eq!(
        json_str(&s["attributes"])["gen_ai.request.model"],
        "gpt \"4o\" ✓"
    );
    assert_eq!(
        s["attributes_map"],
        json!({
            "gen_ai.request.model": "gpt \"4o\" ✓",
            "ai.usage.promptTokens": "12",
            "ai.telemetry.metadata.raindrop.eventId": "cur-1",
            "ai.settings.stop": "[\"\\n\"]",
        }),
        "{s}"
    );
    assert_eq!(
        s["resource_attributes_map"],
        json!({"service.name": "agent"})
    );
}

const SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/JSON export of one span linked to event `cur-1`.
fn otlp_export() -> Value {
    let attr = |key: &str, value: Value| json!({"key": key, "value": value});
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", json!({"stringValue": "agent"}))]},
        "scopeSpans": [{"spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spanId": SPAN_ID,
            "name": "ai.generateText",
            "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000000500000000",
            "attributes": [
                attr("gen_ai.request.model", json!({"stringValue": "gpt \"4o\" ✓"})),
                attr("ai.usage.promptTokens", json!({"intValue": "12"})),
                attr("ai.telemetry.metadata.raindrop.eventId", json!({"stringValue": "cur-1"})),
                attr("ai.settings.stop", json!({"arrayValue": {"values": [{"stringValue": "\n"}]}})),
            ],
        }]}],
    }]})
}

/// `export`'s rows as the edge encodes them (record headers stripped).
fn span_rows(export: &Value, received_us: u64, retention: Retention) -> Vec<u8> {
    use downpour::edge::budget::BodyBudget;
    use downpour::edge::otlp::{self, Encoding, Format, Wire};
    let wire = Wire {
        format: Format::Json,
        encoding: Encoding::Identity,
    };
    let pipelines = pipeline::load(None).expect("built-in pipelines");
    let limits = &pipelines
        .iter()
        .find(|p| p.kind == StreamKind::Spans)
        .expect("the spans pipeline")
        .limits;
    let env = Envelope {
        redaction: None,
        retention,
        org: ORG,
        project: PROJECT,
        received_us,
    };
    let body = serde_json::to_vec(export).expect("JSON");
    let budget = BodyBudget::new(64 << 20, 1.0);
    let org: std::sync::Arc<str> = std::sync::Arc::from(ORG);
    let mut reserved = budget.reserve(&org, body.len()).expect("room");
    let (encoded, rejected) =
        otlp::encode(wire, body, 1 << 20, &mut reserved, &budget, limits, &env).expect("encoded");
    assert_eq!(rejected.spans, 0);
    let mut out = Vec::new();
    for rec in &encoded.records {
        out.extend_from_slice(
            record::parse(rec, StreamKind::Spans)
                .expect("a record")
                .body,
        );
    }
    out
}

/// docs/CONTRACT.md §C24 on current ClickHouse: the TTLs of
/// `sql/0011_retention_ttl.sql` empty bodies and delete rows by the
/// expiries the edge stamped (a merge applies them; the server's clock is
/// the real one, so the rows are received in the past).
#[test]
fn retention_expires_bodies_and_rows_by_ttl_on_current_clickhouse() {
    let python = chdb_python();
    let dir = TempDir::new();
    let (statements_file, _) = write_statements(&python, &dir);
    let now_us = u64::try_from(chrono::Utc::now().timestamp_micros()).expect("after 1970");
    let hour_us = 3_600_000_000u64;
    // Bodies kept for an hour, rows for a day.
    let short = Retention {
        body_hours: 1,
        log_days: 1,
    };
    let event = |id: &str| {
        json!([{"event_id": id, "user_id": "u1", "event": "chat",
                "ai_data": {"model": "m", "input": "secret prompt", "output": "secret answer"},
                "attachments": [{"type": "text", "value": "secret file", "role": "input"}],
                "properties": {"plan": "pro"}}])
    };
    // Received two hours ago: its bodies have expired, the row has not.
    let aged = rows_kept(
        StreamKind::Events,
        &event("aged"),
        now_us - 2 * hour_us,
        short,
    );
    // Received three days ago: expired whole.
    let gone = rows_kept(
        StreamKind::Events,
        &event("gone"),
        now_us - 72 * hour_us,
        short,
    );
    // Received now: nothing expired.
    let fresh = rows_kept(StreamKind::Events, &event("fresh"), now_us, short);
    // Stored by an edge that stamped no expiry (0), three days ago: the
    // defaults (48 hours, 90 days) apply from its received_at.
    let mut unstamped = rows_kept(
        StreamKind::Events,
        &event("unstamped"),
        now_us - 72 * hour_us,
        short,
    );
    let len = unstamped.len();
    unstamped[len - 8..].fill(0);
    let patch =
        json!({"event_id": "patch", "is_pending": false, "ai_data": {"input": "secret prompt"}});
    let mut span = otlp_export();
    span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array_mut()
        .expect("attributes")
        .push(json!({"key": "gen_ai.prompt", "value": {"stringValue": "secret prompt"}}));
    let signal = json!([{"event_id": "gone", "signal_name": "thumbs_up"}]);
    let loads = [
        (StreamKind::Events, [aged, gone, fresh, unstamped].concat()),
        (
            StreamKind::PartialEvents,
            rows_kept(
                StreamKind::PartialEvents,
                &patch,
                now_us - 2 * hour_us,
                short,
            ),
        ),
        (
            StreamKind::Spans,
            span_rows(&span, now_us - 2 * hour_us, short),
        ),
        (
            StreamKind::Signals,
            rows_kept(StreamKind::Signals, &signal, now_us - 72 * hour_us, short),
        ),
    ];
    let tables = [
        "events",
        "events_by_time",
        "events_by_user",
        "partial_events",
        "spans",
        "signals",
    ];
    let r = apply(&python, &dir, &statements_file, &loads, &tables);
    let expired = &r["expired"];
    for table in ["events", "events_by_time", "events_by_user"] {
        let rows = expired[table].as_array().expect("rows");
        let ids: Vec<&str> = rows.iter().filter_map(|e| e["event_id"].as_str()).collect();
        assert_eq!(ids, ["unstamped", "aged", "fresh"], "{table}: {rows:?}");
        for e in rows {
            let id = e["event_id"].as_str().unwrap_or_default();
            let body_gone = id != "fresh";
            assert_eq!(e["ai_input"] == "", body_gone, "{table} {id}: {e}");
            assert_eq!(e["ai_output"] == "", body_gone, "{table} {id}: {e}");
            assert_eq!(e["attachments"] == "[]", body_gone, "{table} {id}: {e}");
            // The metadata stays.
            assert_eq!(e["ai_model"], "m", "{table} {id}");
            assert_eq!(e["user_id"], "u1", "{table} {id}");
            assert_eq!(json_str(&e["properties"]), json!({"plan": "pro"}));
        }
    }
    let patch = &expired["partial_events"][0];
    assert_eq!(
        (patch["event_id"].as_str(), patch["ai_input"].as_str()),
        (Some("patch"), Some(""))
    );
    let span = &expired["spans"][0];
    assert_eq!(json_str(&span["body_attributes"]), json!({}), "{span}");
    assert_eq!(
        json_str(&span["attributes"])["gen_ai.request.model"],
        "gpt \"4o\" ✓",
        "{span}"
    );
    assert_eq!(expired["signals"], json!([]), "deleted after a day");
}

/// The test cluster's ZooKeeper (`DOWNPOUR_TEST_ZOOKEEPER`, or the file
/// `components.sh start-cluster` writes, for a test run by hand).
fn zookeeper() -> String {
    std::env::var("DOWNPOUR_TEST_ZOOKEEPER").unwrap_or_else(|_| {
        let run = std::env::var("DOWNPOUR_RUN_DIR")
            .unwrap_or_else(|_| format!("{}/.run/test", env!("CARGO_MANIFEST_DIR")));
        std::fs::read_to_string(format!("{run}/cluster/env"))
            .expect("no cluster: run scripts/components.sh start-cluster (scripts/test.sh does)")
            .lines()
            .find_map(|l| l.strip_prefix("export DOWNPOUR_TEST_ZOOKEEPER="))
            .expect("DOWNPOUR_TEST_ZOOKEEPER in the cluster's env")
            .to_string()
    })
}

/// `migrations` split as `migrate` splits them, in the file apply.py and
/// cluster.py read; returns it and the statement count.
fn statements_file(dir: &TempDir, name: &str, migrations: &[(&str, String)]) -> (PathBuf, usize) {
    let statements: Vec<Value> = migrations
        .iter()
        .flat_map(|(version, sql)| {
            schema::statements(sql)
                .into_iter()
                .map(move |s| json!({"version": version, "sql": s}))
        })
        .collect();
    let file = dir.0.join(name);
    std::fs::write(&file, serde_json::to_vec(&statements).unwrap()).unwrap();
    (file, statements.len())
}

/// The cluster form (`sql/cluster/`) on current ClickHouse, replicated
/// through the test cluster's ZooKeeper: every statement runs (twice), the
/// tables and views readers use have the one-server schema's columns, and
/// the local tables are replicated and expire rows by TTL.
#[test]
fn the_cluster_schema_runs_on_current_clickhouse() {
    let python = chdb_python();
    let dir = TempDir::new();
    let (host, port) = zookeeper()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .expect("host:port");
    let config = dir.0.join("cluster.xml");
    std::fs::write(
        &config,
        format!(
            "<clickhouse><zookeeper><node><host>{host}</host><port>{port}</port></node></zookeeper>\
             <macros><shard>1</shard><replica>chdb</replica></macros>\
             <remote_servers><downpour><shard><replica><host>127.0.0.1</host><port>9000</port>\
             </replica></shard></downpour></remote_servers></clickhouse>"
        ),
    )
    .unwrap();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let [single_db, replicated_db, plain_db] =
        ["one", "repl", "plain"].map(|name| format!("{name}_{}", &unique[..8]));
    let single: Vec<(&str, String)> = schema::MIGRATIONS
        .iter()
        .map(|(v, sql)| (*v, sql.to_string()))
        .collect();
    let cluster = |db: &str| -> Vec<(&str, String)> {
        schema::CLUSTER_MIGRATIONS
            .iter()
            .map(|(v, sql)| (*v, schema::render(sql, db, "downpour").expect("renders")))
            .collect()
    };
    // Replicated tables in chdb take no ALTER (cluster.py says why): the
    // schema's first file only, as written.
    let replicated: Vec<(&str, String)> = cluster(&replicated_db).into_iter().take(1).collect();
    let output = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/chdb/cluster.py"
        ))
        .arg(&config)
        .arg(&single_db)
        .arg(statements_file(&dir, "single.json", &single).0)
        .arg(&replicated_db)
        .arg(statements_file(&dir, "replicated.json", &replicated).0)
        .arg(&plain_db)
        .arg(statements_file(&dir, "plain.json", &cluster(&plain_db)).0)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cluster.py failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cluster.py printed no JSON ({e}): {stderr}"));
    let single = out["single"].as_object().expect("single");
    let cluster = out["cluster"].as_object().expect("cluster");
    assert!(single.contains_key("spans_view") && single.contains_key("projects"));
    assert_eq!(
        cluster.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>(),
        "the same tables and views for readers"
    );
    for (table, columns) in single {
        assert_eq!(
            &cluster[table], columns,
            "{table} on ClickHouse {}",
            out["version"]
        );
    }
    let replicated = out["replicated"].as_object().expect("replicated tables");
    let plain = out["plain"].as_object().expect("plain tables");
    assert_eq!(replicated.len(), 8, "{replicated:?}");
    assert_eq!(
        replicated.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    for (table, engine_ttl) in replicated {
        let engine = engine_ttl[0].as_str().unwrap_or("");
        assert!(engine.starts_with("Replicated"), "{table}: {engine}");
        let expires = table != "event_time_span_local";
        assert_eq!(
            plain[table][1].as_u64(),
            Some(u64::from(expires)),
            "{table}: TTL"
        );
    }
}
