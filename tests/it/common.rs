//! Test harness: the real runtime against the real broker and ClickHouse
//! that `scripts/test.sh` started (their addresses come from `DOWNPOUR_*`,
//! or from `.run/test/env` when a test is run by hand).
//!
//! Each harness gets its own database, topic prefix and consumer groups, so
//! tests run in parallel without seeing each other's rows.

use std::time::{Duration, Instant};

use downpour::config::Config;
use downpour::registry::keys::Role;
use downpour::registry::slug::Slug;
use downpour::runtime::{self, Parts, Running};

/// How long a test waits for rows before failing.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running downpour (edge + consumers) with its own database and topics.
pub struct Harness {
    pub cfg: Config,
    pub running: Option<Running>,
    pub base: String,
    /// The operator listener (`/metrics`), `http://host:port`.
    pub ops: String,
    pub db: clickhouse::Client,
    pub http: reqwest::Client,
}

/// For a test run by hand: the broker and ClickHouse addresses from
/// `.run/test/env` (written by `scripts/components.sh start`), where the
/// environment does not name them. They go into `cfg`, never into the process
/// environment: the tests run in parallel threads of one process, and
/// `set_var` beside a thread reading the environment is undefined behaviour.
fn apply_env_file(cfg: &mut Config) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".run/test/env");
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let Some((k, v)) = line.trim_start_matches("export ").split_once('=') else {
            continue;
        };
        if v.starts_with("${") || std::env::var_os(k).is_some() {
            continue;
        }
        match k {
            "DOWNPOUR_KAFKA_BROKERS" => cfg.kafka.brokers = v.to_string(),
            "DOWNPOUR_CLICKHOUSE_URL" => cfg.clickhouse.url = v.to_string(),
            _ => {}
        }
    }
}

/// A configuration with a private database, topic prefix and group prefix.
pub fn private_config(name: &str) -> Config {
    let mut cfg = Config::load(None).expect("configuration");
    apply_env_file(&mut cfg);
    let unique = format!(
        "t_{name}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    cfg.clickhouse.database = unique.clone();
    cfg.kafka.topic_prefix = format!("{unique}.");
    cfg.kafka.group_prefix = unique;
    cfg.kafka.partitions = 2;
    cfg.listen = "127.0.0.1:0".parse().expect("addr");
    // A consumer-only start must not race other tests for the fixed default port.
    cfg.consumer.metrics_listen = None;
    cfg.edge.ops_listen = Some("127.0.0.1:0".parse().expect("addr"));
    cfg
}

impl Harness {
    /// Migrates a private database and topics, then starts edge and consumers.
    pub async fn start(name: &str) -> Harness {
        Harness::start_cfg(private_config(name)).await
    }

    /// Migrates, then starts edge and consumers with `cfg`.
    pub async fn start_cfg(cfg: Config) -> Harness {
        Harness::start_with(
            cfg,
            Parts {
                edge: true,
                consumers: true,
            },
            true,
        )
        .await
    }

    /// Starts `parts` with `cfg`, migrating first if `migrate`.
    pub async fn start_with(cfg: Config, parts: Parts, migrate: bool) -> Harness {
        if migrate {
            runtime::migrate(&cfg).await.expect("migrate");
        }
        let running = runtime::start(&cfg, parts).await.expect("start");
        let base = running
            .edge_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let ops = running
            .metrics_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let db = downpour::sink::clickhouse::database(&cfg.clickhouse).unwrap();
        Harness {
            cfg,
            running: Some(running),
            base,
            ops,
            db,
            http: reqwest::Client::new(),
        }
    }

    /// A consumer-only start of a second group (`<group_prefix>-replay`)
    /// on the same topics: it reads them again from the start, as after a
    /// crash between INSERT and commit.
    pub async fn replayer(&self) -> Harness {
        let mut replay = self.cfg.clone();
        replay.kafka.group_prefix = format!("{}-replay", self.cfg.kafka.group_prefix);
        Harness::start_with(
            replay,
            Parts {
                edge: false,
                consumers: true,
            },
            false,
        )
        .await
    }

    /// A new key for `org`.
    pub async fn key(&self, org: &str, project: Option<&str>, role: Role) -> String {
        let project = project.map(|p| Slug::parse(p).expect("slug"));
        runtime::key_store(&self.cfg)
            .unwrap()
            .create(org, project.as_ref(), role)
            .await
            .expect("key")
            .secret
    }

    /// A new org write key.
    pub async fn write_key(&self, org: &str) -> String {
        self.key(org, None, Role::Write).await
    }

    /// POSTs `body` to `path` and returns status, headers and body text.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        project: Option<&str>,
        body: &str,
    ) -> Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(project) = project {
            request = request.header("x-raindrop-project-id", project);
        }
        Response::read(
            request
                .body(body.to_string())
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// Sends `method path` with a JSON `body` (admin API).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {key}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        Response::read(request.send().await.expect("request sent")).await
    }

    /// A Kafka consumer of `topic` from its first record, in a group of its
    /// own (the pipeline's groups are left alone).
    pub fn topic_reader(&self, topic: &str) -> rdkafka::consumer::BaseConsumer {
        use rdkafka::consumer::Consumer as _;
        let reader: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.cfg.kafka.brokers)
            .set(
                "group.id",
                format!("{}-test-reader", self.cfg.kafka.group_prefix),
            )
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        reader.subscribe(&[topic]).expect("subscribe");
        reader
    }

    /// Polls `sql` (one `?` bound to `org`) until it returns `expected` rows' worth.
    ///
    /// Before reading events through the Query API, poll `events_by_user`:
    /// an INSERT's rows show in `events` before its materialized views have
    /// written the copies the API reads, and `events_by_user`'s feed runs
    /// last (ClickHouse runs a table's views in name order).
    pub async fn wait_count(&self, sql: &str, org: &str, expected: u64) -> u64 {
        let started = Instant::now();
        loop {
            let n: u64 = self
                .db
                .query(sql)
                .bind(org)
                .fetch_one()
                .await
                .expect("count query");
            if n >= expected || started.elapsed() > DEADLINE {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// All rows of `sql` with `org` bound to its `?`.
    pub async fn rows<T>(&self, sql: &str, org: &str) -> Vec<T>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.db
            .query(sql)
            .bind(org)
            .fetch_all::<T>()
            .await
            .expect("rows query")
    }

    /// Stops downpour and drops the private database.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        drop_database(&self.cfg).await;
    }
}

/// Drops `cfg`'s database: on its server, or on a cluster on every server
/// (its replicas leave ZooKeeper).
pub async fn drop_database(cfg: &Config) {
    let mut urls: Vec<String> = cfg
        .clickhouse
        .replica_urls()
        .into_iter()
        .flatten()
        .collect();
    if cfg.clickhouse.cluster.is_empty() || urls.is_empty() {
        urls = vec![cfg.clickhouse.url.clone()];
    }
    for url in urls {
        let server = downpour::sink::clickhouse::server(&downpour::config::ClickHouseConfig {
            url,
            ..cfg.clickhouse.clone()
        })
        .unwrap();
        let _ = server
            .query(&format!(
                "DROP DATABASE IF EXISTS {}",
                cfg.clickhouse.database
            ))
            .execute()
            .await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Response {
    /// Status, `Retry-After` and body of an answer.
    pub async fn read(response: reqwest::Response) -> Response {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let body = response.text().await.unwrap_or_default();
        Response {
            status,
            retry_after,
            body,
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("JSON body, got {:?}", self.body))
    }

    /// The parsed JSON error body `{"error": {message, type, code, param}}`
    /// (ingest, admin); a Query API answer's `{"error": {code (a string),
    /// message, details: {field}}}` is checked and read into the same four names.
    pub fn error(&self) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("JSON error body, got {:?}", self.body));
        if v["error"]["code"].is_string() {
            let e = &v["error"];
            assert!(e["details"].is_object(), "details: {v}");
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "message: {v}"
            );
            return serde_json::json!({
                "message": e["message"],
                "type": e["code"],
                "code": self.status,
                "param": e["details"]["field"],
            });
        }
        let e = v
            .get("error")
            .cloned()
            .unwrap_or_else(|| panic!("no error object in {v}"));
        assert_eq!(e["code"], self.status, "code mirrors the status: {v}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {v}"
        );
        assert!(e["type"].as_str().is_some(), "type: {v}");
        e
    }
}

/// Forwards connections accepted on `listener` to `target` until aborted
/// (aborting drops every connection): a cut and restored link to a
/// component, for outage tests.
pub async fn proxy(listener: tokio::net::TcpListener, target: String) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        connections.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// Sum of the values of the metric lines starting with `prefix` (labels
/// included); `None` when no line matches.
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

impl Harness {
    /// The process's `/metrics` text (on its operator listener).
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .unwrap_or_default()
    }

    /// Polls `/metrics` until the sum of the lines starting with `prefix`
    /// satisfies `check`, and returns it.
    /// Polls `url` (a `/readyz`) until its status is `status` and its body
    /// contains `names`; returns the body.
    pub async fn wait_ready(&self, url: &str, status: u16, names: &str) -> String {
        let started = Instant::now();
        loop {
            let (got, body) = match self.http.get(url).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (0, e.to_string()),
            };
            if got == status && body.contains(names) {
                return body;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{url}: wanted {status} naming {names:?}, last {got} {body:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_metric(&self, prefix: &str, check: impl Fn(f64) -> bool) -> f64 {
        let started = Instant::now();
        loop {
            let value = metric(&self.metrics().await, prefix);
            if let Some(v) = value.filter(|v| check(*v)) {
                return v;
            }
            assert!(started.elapsed() < DEADLINE, "{prefix}: {value:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
