//! Configuration: defaults, then an optional TOML file, then `DOWNPOUR_*`
//! environment variables (highest precedence).
//!
//! Sections stay small and named after the module that reads them, so an
//! operator finds a setting next to the thing it tunes. Environment names are
//! `DOWNPOUR_<SECTION>_<FIELD>` (`DOWNPOUR_KAFKA_BROKERS`,
//! `DOWNPOUR_CLICKHOUSE_URL`), with `DOWNPOUR_LISTEN` for the edge address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Every setting downpour reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address the edge (ingest HTTP server) listens on.
    pub listen: SocketAddr,
    /// Directory of pipeline definitions; the built-in copies of `pipelines/` when unset.
    pub pipelines_dir: Option<PathBuf>,
    /// Kafka connection and producer tuning.
    pub kafka: KafkaConfig,
    /// ClickHouse connection.
    pub clickhouse: ClickHouseConfig,
    /// Edge limits and caches.
    pub edge: EdgeConfig,
    /// The projects registry.
    pub registry: RegistryConfig,
    /// Consumer pacing and retries.
    pub consumer: ConsumerConfig,
    /// The Query API.
    pub query: QueryConfig,
    /// The retention sweeps a consumer process runs where ClickHouse has no TTL.
    pub retention: RetentionConfig,
}

/// The retention sweeps (src/sink/retention.rs): on ClickHouse 18.16 each
/// consumer process empties expired bodies and deletes expired rows with
/// mutations; on a server with TTL it does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionConfig {
    /// Whether this process sweeps (one sweeping process per cluster is
    /// enough; more only find the work done or a mutation running).
    pub sweep: bool,
    /// How often expired bodies are emptied: a body outlives its expiry
    /// by at most this plus the mutation's run.
    pub body_sweep_every_ms: u64,
    /// How often expired rows are deleted (each run rewrites the parts
    /// holding one; retention is counted in days).
    pub row_sweep_every_ms: u64,
}

/// Consumer settings (per consumer process, for every pipeline's table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerConfig {
    /// INSERT statements per second one consumer may send to one table: a
    /// batch needing more INSERTs (many projects) is held longer.
    pub max_inserts_per_second_per_table: f64,
    /// Largest factor by which "too many parts" or a slow server stretches
    /// the batch age and row bounds.
    pub max_slowdown: u32,
    /// First wait before retrying a failed write.
    pub retry_initial_ms: u64,
    /// Longest wait between retries (the backoff doubles up to it).
    pub retry_max_ms: u64,
    /// How often the consumer lag gauge is refreshed.
    pub lag_interval_ms: u64,
    /// Where a consumer-only process (`downpour consumer`) serves `/metrics`,
    /// `/healthz` and `/readyz` (the lag gauge lives there); unset: nowhere.
    /// A port already taken is logged and skipped, never fatal.
    pub metrics_listen: Option<SocketAddr>,
    /// The stall bound: a group member with no progress for longer than
    /// this (no partitions while no other member commits, or lag on its
    /// partitions and no record read, while it is not busy with a flush) is
    /// recreated; `/readyz` is false from half of it on, and while it has no
    /// assignment (src/sink/watchdog.rs).
    pub stall_timeout_ms: u64,
    /// This consumer process's group instance id (Kafka static membership):
    /// each pipeline's member uses `<instance_id>-<pipeline>`, so a restarted
    /// process takes its predecessor's place in the group at once instead
    /// of waiting out its session. Must be stable across restarts and unique
    /// per running process. Unset: `<host name>:<port>` of `metrics_listen`
    /// when this process holds that (fixed) port; empty: dynamic membership.
    pub instance_id: Option<String>,
}

/// Projects registry settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryConfig {
    /// How long the edge caches an org's projects (the ingest table, docs/CONTRACT.md §C3).
    pub cache_ttl_ms: u64,
    /// Pending slugs an org may have unless its own limit is set.
    pub default_pending_limit: u32,
    /// The most an org may set its pending limit to (each slug is an org-view
    /// entry on every edge and a dashboard row).
    pub max_pending_limit: u32,
    /// The most projects an org may create, `default` not counted.
    pub max_projects_per_org: u32,
    /// How long after it was read a key or an org's projects are still
    /// served while the registry is unreachable.
    pub stale_grace_ms: u64,
}

/// Kafka settings shared by producer, consumers and `migrate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// Prefix for every topic name (lets tests and tenants share a broker).
    pub topic_prefix: String,
    /// Prefix for consumer group ids.
    pub group_prefix: String,
    /// Partitions per topic created by `migrate`.
    pub partitions: i32,
    /// Replicas per topic created by `migrate` (3 on a production cluster, with
    /// the broker's `min.insync.replicas` at 2, so acks=all means two copies).
    pub replication_factor: i32,
    /// Producer `linger.ms`: how long records wait to share a broker request.
    pub linger_ms: u32,
    /// Upper bound on waiting for the broker's ack before the edge answers 503.
    pub publish_timeout_ms: u32,
    /// Consumer `fetch.wait.max.ms`: how long the broker may hold a fetch
    /// while it has no new records. tansu 0.6 holds it that long even when
    /// records arrive meanwhile, so it is also a delay on every record (50:
    /// 204 → visible p50 543 ms at 3.7k events/s where 500 gave 965 ms) and
    /// the rate of an idle consumer's fetches (five consumers, 20 each per
    /// second). A broker that answers as soon as records arrive (Apache
    /// Kafka, Redpanda) serves the same freshness at 500 with a tenth of
    /// the idle fetching.
    pub fetch_wait_max_ms: u32,
    /// Producer queue bound in KiB: the edge's memory bound under a stalled broker.
    pub queue_max_kbytes: u32,
    /// librdkafka's idempotent producer (no duplicates or reordering from
    /// its own retries). Off by default: against tansu 0.6 an idempotent
    /// producer that outlives a broker restart makes tansu's sqlite storage
    /// panic, and one that outlives a stall is fenced; duplicates from
    /// retries collapse by id in ClickHouse either way.
    pub idempotence: bool,
    /// librdkafka debug contexts for every client (`cgrp`, `protocol`,
    /// `all`, ...: the group protocol's exchange in the log); empty: off.
    pub debug: String,
    /// How every Kafka client reaches the brokers: TLS and SASL (the
    /// fields are `kafka.security_protocol`, `kafka.sasl_username`, ...).
    #[serde(flatten)]
    pub security: KafkaSecurity,
}

/// TLS and SASL for the Kafka clients (librdkafka's own property names).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct KafkaSecurity {
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: KafkaProtocol,
    /// CA certificates (PEM file) that sign the brokers' certificates, for
    /// `ssl` and `sasl_ssl`; unset: the system's trust store.
    pub ssl_ca_location: Option<PathBuf>,
    /// SASL mechanism for `sasl_*`: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`.
    pub sasl_mechanism: String,
    /// SASL user name.
    pub sasl_username: String,
    /// SASL password (never logged: `Debug` shows whether one is set).
    pub sasl_password: String,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL without TLS (the password mechanism's own protection only).
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl KafkaProtocol {
    /// The value librdkafka takes.
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaProtocol::Plaintext => "plaintext",
            KafkaProtocol::Ssl => "ssl",
            KafkaProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the clients authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl)
    }
}

impl KafkaSecurity {
    /// Refuses settings that would be silently ignored and leave the
    /// connection weaker than the operator asked for (credentials without
    /// SASL, a CA without TLS, SASL without a user).
    pub fn check(&self) -> Result<(), String> {
        let protocol = self.security_protocol;
        let tls = matches!(protocol, KafkaProtocol::Ssl | KafkaProtocol::SaslSsl);
        if !protocol.uses_sasl()
            && (!self.sasl_username.is_empty() || !self.sasl_password.is_empty())
        {
            return Err(format!(
                "kafka.sasl_username/sasl_password are set but kafka.security_protocol is {}: \
                 they would not be sent (use sasl_ssl or sasl_plaintext)",
                protocol.as_str()
            ));
        }
        if !tls && self.ssl_ca_location.is_some() {
            return Err(format!(
                "kafka.ssl_ca_location is set but kafka.security_protocol is {}: \
                 the connection would not use TLS (use ssl or sasl_ssl)",
                protocol.as_str()
            ));
        }
        if protocol.uses_sasl() && (self.sasl_mechanism.is_empty() || self.sasl_username.is_empty())
        {
            return Err(format!(
                "kafka.security_protocol is {} but kafka.sasl_mechanism or kafka.sasl_username is empty",
                protocol.as_str()
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("security_protocol", &self.security_protocol)
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &shown(&self.sasl_password))
            .finish()
    }
}

/// What `Debug` shows of a secret: whether it is set, never the value.
fn shown(secret: &str) -> &'static str {
    if secret.is_empty() { "(none)" } else { "(set)" }
}

/// ClickHouse connection settings.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClickHouseConfig {
    /// HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding downpour's tables.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (never logged: `Debug` shows whether one is set, not it).
    pub password: String,
    /// CA certificates (PEM file) that sign the server's certificate when
    /// `url` is `https://`; unset: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// The cluster downpour's tables span (its name in the servers'
    /// `remote_servers`; docs/ARCHITECTURE.md "Scaling out"): empty for one
    /// server. When set, `migrate` applies `sql/cluster/` to every server of
    /// `shards`, consumers write each project's rows to the local tables of
    /// one shard, and everything else reads and writes through `url`.
    pub cluster: String,
    /// The cluster's shards, in a fixed order (a project's shard is its
    /// record key's hash modulo their number, `crate::sink::shards`): each
    /// the HTTP URLs of its replicas, comma-separated.
    pub shards: Vec<String>,
}

impl ClickHouseConfig {
    /// Refuses a cluster that is half configured, or named with anything but
    /// an identifier (it is written into the schema's DDL).
    pub fn check(&self) -> Result<(), String> {
        let identifier =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if self.cluster.is_empty() {
            return match self.shards.is_empty() {
                true => Ok(()),
                false => Err("clickhouse.shards is set but clickhouse.cluster is empty".into()),
            };
        }
        if !identifier(&self.cluster) {
            return Err(format!(
                "clickhouse.cluster {:?} must be [A-Za-z0-9_]+",
                self.cluster
            ));
        }
        if self.shards.is_empty() {
            return Err("clickhouse.cluster is set but clickhouse.shards lists no shard".into());
        }
        for (i, shard) in self.replica_urls().iter().enumerate() {
            if shard.is_empty() {
                return Err(format!("clickhouse.shards[{i}] names no replica"));
            }
        }
        Ok(())
    }

    /// Each shard's replica URLs (empty without a cluster).
    pub fn replica_urls(&self) -> Vec<Vec<String>> {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &shown(&self.password))
            .field("ca_file", &self.ca_file)
            .field("cluster", &self.cluster)
            .field("shards", &self.shards)
            .finish()
    }
}

/// Edge limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeConfig {
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Whole-request deadline on every route (slow bodies included); past it the client gets 408.
    pub request_timeout_ms: u64,
    /// Requests processed at once; beyond it clients get 503.
    pub max_concurrent_requests: usize,
    /// Budget for the bodies of requests in flight, bytes: each request
    /// reserves twice its declared body (the body and its encoded rows; at
    /// most the whole budget) before reading it, until it is answered;
    /// beyond it clients get 503 + `Retry-After`. Parsing adds scratch memory
    /// the reservation does not count (simd-json's tape, up to ~24 bytes per
    /// JSON value while a body is parsed), so it is a budget for what waits
    /// on the broker, not an exact bound on the process.
    pub max_inflight_body_bytes: usize,
    /// The part of that budget one org may hold while it holds any (0–1).
    pub max_inflight_body_share: f64,
    /// How long an authenticated key stays cached.
    pub key_cache_ttl_ms: u64,
    /// How long an unknown key stays cached as unknown.
    pub key_miss_ttl_ms: u64,
    /// Connections served at once on the listener; more wait in the accept backlog.
    pub max_connections: usize,
    /// Largest request head (request line + headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Most headers in one request; more gets 431.
    pub max_headers: usize,
    /// A connection that has not sent a whole request head within this time
    /// (idle keep-alive connections included) is closed.
    pub header_read_timeout_ms: u64,
    /// Connections one source address may hold at once; past it a new
    /// connection is answered 429 + `Retry-After` and closed. Behind a
    /// proxy every client shares its address: raise it to `max_connections`.
    pub max_connections_per_source: usize,
    /// Registry lookups of unknown key ids one source address may cause per
    /// minute (each costs a ClickHouse query); past it 429 + `Retry-After`.
    pub key_lookups_per_source_per_minute: u32,
    /// Where a process that runs the edge serves the operator endpoints
    /// (`/metrics`, `/healthz`, `/readyz`): never on the public `listen`
    /// port. A port already taken is logged and skipped; unset: nowhere.
    pub ops_listen: Option<SocketAddr>,
    /// How often an edge exchanges its per-project request counts with the
    /// other edges (`rate_limit_rpm` holds across edges, give or take what
    /// the others admitted within one interval).
    pub rate_limit_sync_ms: u64,
    /// A project that sends more rows than this through one edge in a second
    /// has its records spread over `hot_project_spread` partitions instead
    /// of one (src/edge/hot.rs); 0: never.
    pub hot_project_rows_per_second: u64,
    /// How many keys, and so partitions, a hot project's records take turns over.
    pub hot_project_spread: u32,
    /// Where the edge spools the records of requests the broker cannot take
    /// (src/bus/spool.rs): they are answered 204 once on this disk and
    /// forwarded to Kafka when it is back. Unset: no spool, such requests
    /// get 503. One directory per edge process.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The most the spool may hold; past it requests get 503 again.
    pub spool_max_bytes: u64,
    /// How long a publish waits for Kafka's acknowledgement before its
    /// records are spooled instead (with a spool).
    pub spool_after_ms: u64,
}

/// Query API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryConfig {
    /// Queries one org may run at once; past it 429 + `Retry-After`.
    pub max_concurrent_per_org: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pipelines_dir: None,
            kafka: KafkaConfig {
                brokers: "127.0.0.1:9092".into(),
                topic_prefix: String::new(),
                group_prefix: "downpour".into(),
                partitions: 4,
                replication_factor: 1,
                linger_ms: 2,
                publish_timeout_ms: 5_000,
                fetch_wait_max_ms: 50,
                queue_max_kbytes: 256 * 1024,
                idempotence: false,
                debug: String::new(),
                security: KafkaSecurity::default(),
            },
            clickhouse: ClickHouseConfig {
                url: "http://127.0.0.1:8123".into(),
                database: "downpour".into(),
                user: "default".into(),
                password: String::new(),
                ca_file: None,
                cluster: String::new(),
                shards: Vec::new(),
            },
            edge: EdgeConfig {
                max_body_bytes: 20 * 1024 * 1024,
                request_timeout_ms: 30_000,
                max_concurrent_requests: 4096,
                max_inflight_body_bytes: 256 * 1024 * 1024,
                max_inflight_body_share: 0.25,
                key_cache_ttl_ms: 5_000,
                key_miss_ttl_ms: 30_000,
                max_connections: 8192,
                max_header_bytes: 64 * 1024,
                max_headers: 100,
                header_read_timeout_ms: 30_000,
                max_connections_per_source: 512,
                key_lookups_per_source_per_minute: 60,
                ops_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9463))),
                rate_limit_sync_ms: 1000,
                hot_project_rows_per_second: 5_000,
                hot_project_spread: 4,
                spool_dir: None,
                spool_max_bytes: 1 << 30,
                spool_after_ms: 1_000,
            },
            query: QueryConfig {
                max_concurrent_per_org: 4,
            },
            retention: RetentionConfig {
                sweep: true,
                body_sweep_every_ms: 3_600_000,
                row_sweep_every_ms: 86_400_000,
            },
            registry: RegistryConfig {
                cache_ttl_ms: 5_000,
                default_pending_limit: 50,
                max_pending_limit: 1_000,
                max_projects_per_org: 1_000,
                stale_grace_ms: 300_000,
            },
            consumer: ConsumerConfig {
                max_inserts_per_second_per_table: 4.0,
                max_slowdown: 8,
                retry_initial_ms: 100,
                retry_max_ms: 10_000,
                lag_interval_ms: 5_000,
                metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
                stall_timeout_ms: 35_000,
                instance_id: None,
            },
        }
    }
}

/// Sections whose fields may be set as `DOWNPOUR_<SECTION>_<FIELD>`.
const SECTIONS: [&str; 7] = [
    "kafka",
    "clickhouse",
    "edge",
    "registry",
    "consumer",
    "query",
    "retention",
];

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("DOWNPOUR_").map(|key| env_key_to_path(key.as_str()).into()))
            .extract()
            .map_err(Box::new)
    }
}

/// `kafka_brokers` → `kafka.brokers`; top-level keys pass through.
fn env_key_to_path(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    for section in SECTIONS {
        if let Some(rest) = lower
            .strip_prefix(section)
            .and_then(|r| r.strip_prefix('_'))
        {
            return format!("{section}.{rest}");
        }
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_clickhouse_password() {
        let mut cfg = Config::default().clickhouse;
        cfg.password = "hunter2-secret".into();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("(set)"), "{shown}");
    }

    #[test]
    fn debug_never_shows_the_kafka_sasl_password() {
        let mut cfg = Config::default().kafka;
        cfg.security.sasl_password = "hunter2-secret".into();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("(set)"), "{shown}");
    }

    #[test]
    fn kafka_security_refuses_what_it_would_silently_ignore() {
        let mut s = KafkaSecurity::default();
        assert_eq!(s.check(), Ok(()));
        s.sasl_password = "pw".into();
        assert!(s.check().unwrap_err().contains("would not be sent"));
        s = KafkaSecurity {
            ssl_ca_location: Some("/ca.pem".into()),
            security_protocol: KafkaProtocol::SaslPlaintext,
            sasl_mechanism: "SCRAM-SHA-512".into(),
            sasl_username: "u".into(),
            ..KafkaSecurity::default()
        };
        assert!(s.check().unwrap_err().contains("would not use TLS"));
        s.security_protocol = KafkaProtocol::SaslSsl;
        assert_eq!(s.check(), Ok(()));
        s.sasl_username.clear();
        assert!(s.check().unwrap_err().contains("sasl_username is empty"));
    }

    #[test]
    fn kafka_security_reads_from_flat_env_names() {
        let cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::default("kafka.security_protocol", "sasl_ssl"))
            .merge(Serialized::default("kafka.sasl_username", "downpour"))
            .extract()
            .unwrap();
        assert_eq!(cfg.kafka.security.security_protocol, KafkaProtocol::SaslSsl);
        assert_eq!(cfg.kafka.security.sasl_username, "downpour");
        assert_eq!(
            env_key_to_path("KAFKA_SASL_PASSWORD"),
            "kafka.sasl_password"
        );
    }

    #[test]
    fn a_cluster_is_named_and_lists_its_shards() {
        let mut ch = Config::default().clickhouse;
        assert_eq!(ch.check(), Ok(()));
        ch.shards = vec!["http://a:8123".into()];
        assert!(ch.check().unwrap_err().contains("cluster is empty"));
        ch.cluster = "down pour".into();
        assert!(ch.check().unwrap_err().contains("[A-Za-z0-9_]+"));
        ch.cluster = "downpour".into();
        assert_eq!(ch.check(), Ok(()));
        ch.shards = vec!["http://a:8123, http://b:8123".into(), " , ".into()];
        assert!(ch.check().unwrap_err().contains("shards[1]"));
        ch.shards.pop();
        assert_eq!(
            ch.replica_urls(),
            vec![vec![
                "http://a:8123".to_string(),
                "http://b:8123".to_string()
            ]]
        );
        ch.shards.clear();
        assert!(ch.check().unwrap_err().contains("no shard"));
    }

    #[test]
    fn env_names_map_to_sections() {
        assert_eq!(env_key_to_path("KAFKA_BROKERS"), "kafka.brokers");
        assert_eq!(
            env_key_to_path("CLICKHOUSE_DATABASE"),
            "clickhouse.database"
        );
        assert_eq!(
            env_key_to_path("EDGE_MAX_BODY_BYTES"),
            "edge.max_body_bytes"
        );
        assert_eq!(env_key_to_path("LISTEN"), "listen");
    }

    #[test]
    fn toml_file_overrides_defaults_and_bad_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("downpour-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("downpour.toml");
        std::fs::write(
            &file,
            "[edge]\nmax_body_bytes = 1234\n[kafka]\nlinger_ms = 9\n",
        )
        .expect("write");
        let cfg = Config::load(Some(&file)).expect("loads");
        assert_eq!(cfg.edge.max_body_bytes, 1234);
        assert_eq!(cfg.kafka.linger_ms, 9);
        assert_eq!(
            cfg.edge.key_cache_ttl_ms, 5_000,
            "unset fields keep defaults"
        );
        std::fs::write(&file, "[edge]\nmax_body_bytes = \"lots\"\n").expect("write");
        assert!(Config::load(Some(&file)).is_err());
        assert!(Config::load(Some(&dir.join("missing.toml"))).is_err());
    }
}
