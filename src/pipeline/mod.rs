//! Stream definitions: one declarative file per stream in `pipelines/`
//! (route, limits, topic, table, batching), read at start-up.
//!
//! The binary carries a copy of the repository's `pipelines/` so it runs
//! from anywhere; `pipelines_dir` overrides it. A definition is plain data:
//! the edge and the consumer look up behaviour by its `kind`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

#[cfg(test)]
pub(crate) mod reader;
pub mod row;
pub mod rows;

/// What a stream carries; selects the validator and the row layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// `POST /v1/events/track`.
    Events,
    /// `POST /v1/signals/track`.
    Signals,
    /// `POST /v1/users/identify`.
    Users,
    /// `POST /v1/events/track_partial`.
    PartialEvents,
    /// `POST /v1/traces` (OTLP/HTTP, src/edge/otlp/).
    Spans,
}

impl StreamKind {
    /// Every stream, in tag order.
    pub const ALL: [StreamKind; 5] = [
        StreamKind::Events,
        StreamKind::Signals,
        StreamKind::Users,
        StreamKind::PartialEvents,
        StreamKind::Spans,
    ];

    /// The streams whose bodies are Raindrop's JSON items (src/edge/validate/).
    pub const JSON: [StreamKind; 4] = [
        StreamKind::Events,
        StreamKind::Signals,
        StreamKind::Users,
        StreamKind::PartialEvents,
    ];

    /// Stable one-byte tag written into every Kafka record.
    pub fn tag(self) -> u8 {
        match self {
            StreamKind::Events => 1,
            StreamKind::Signals => 2,
            StreamKind::Users => 3,
            StreamKind::PartialEvents => 4,
            StreamKind::Spans => 5,
        }
    }

    /// Short name for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Events => "events",
            StreamKind::Signals => "signals",
            StreamKind::Users => "users",
            StreamKind::PartialEvents => "partial_events",
            StreamKind::Spans => "spans",
        }
    }
}

/// One stream, as declared in `pipelines/<name>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Unique name; also the consumer group suffix.
    pub name: String,
    /// Validator and row layout.
    pub kind: StreamKind,
    /// HTTP route on the edge.
    pub route: String,
    /// Kafka topic, before `kafka.topic_prefix`.
    pub topic: String,
    /// ClickHouse table the consumer inserts into.
    pub table: String,
    /// Request limits.
    pub limits: Limits,
    /// Consumer batching.
    pub batch: BatchPolicy,
}

/// Per-request limits enforced by the edge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Items in one request.
    pub max_items: usize,
    /// Encoded size of one item before its properties are truncated.
    pub max_item_bytes: usize,
}

/// When the consumer flushes a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchPolicy {
    /// Rows in a batch.
    pub max_rows: usize,
    /// Encoded bytes in a batch.
    pub max_bytes: usize,
    /// Age of the oldest row in a batch.
    pub max_age_ms: u64,
    /// Partitions (projects) one INSERT may touch.
    pub max_projects_per_insert: usize,
}

impl BatchPolicy {
    /// `max_age_ms` as a duration.
    pub fn max_age(&self) -> Duration {
        Duration::from_millis(self.max_age_ms)
    }
}

/// Why the pipeline definitions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not a valid definition.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// The set of definitions is inconsistent.
    #[error("{0}")]
    Invalid(String),
}

const BUILTIN: [(&str, &str); 5] = [
    ("events.toml", include_str!("../../pipelines/events.toml")),
    ("signals.toml", include_str!("../../pipelines/signals.toml")),
    ("users.toml", include_str!("../../pipelines/users.toml")),
    (
        "partial_events.toml",
        include_str!("../../pipelines/partial_events.toml"),
    ),
    ("traces.toml", include_str!("../../pipelines/traces.toml")),
];

/// Loads the definitions from `dir`, or the built-in copies when `None`.
pub fn load(dir: Option<&Path>) -> Result<Vec<Pipeline>, PipelineError> {
    let mut out = Vec::new();
    match dir {
        None => {
            for (name, text) in BUILTIN {
                out.push(parse(name, text)?);
            }
        }
        Some(dir) => {
            let io = |source| PipelineError::Io {
                path: dir.display().to_string(),
                source,
            };
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::Io {
                    path: shown.clone(),
                    source,
                })?;
                out.push(parse(&shown, &text)?);
            }
        }
    }
    check(&out)?;
    Ok(out)
}

fn parse(path: &str, text: &str) -> Result<Pipeline, PipelineError> {
    toml::from_str(text).map_err(|source| PipelineError::Parse {
        path: path.to_string(),
        source: Box::new(source),
    })
}

fn check(pipelines: &[Pipeline]) -> Result<(), PipelineError> {
    for (i, p) in pipelines.iter().enumerate() {
        if pipelines[..i]
            .iter()
            .any(|q| q.route == p.route || q.name == p.name)
        {
            return Err(PipelineError::Invalid(format!(
                "duplicate route or name: {}",
                p.name
            )));
        }
        let ident =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ident(&p.table) {
            return Err(PipelineError::Invalid(format!(
                "{}: table name must be [A-Za-z0-9_]+",
                p.name
            )));
        }
        if p.batch.max_projects_per_insert == 0 || p.batch.max_rows == 0 {
            return Err(PipelineError::Invalid(format!(
                "{}: batch bounds must be > 0",
                p.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_holds_every_stream_once_in_tag_order() {
        let tags: Vec<u8> = StreamKind::ALL.iter().map(|k| k.tag()).collect();
        assert_eq!(tags, [1, 2, 3, 4, 5]);
        let json: Vec<StreamKind> = StreamKind::ALL
            .into_iter()
            .filter(|k| *k != StreamKind::Spans)
            .collect();
        assert_eq!(
            json,
            StreamKind::JSON,
            "every stream but spans has JSON items"
        );
    }

    #[test]
    fn builtin_matches_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let from_dir = load(Some(&dir)).expect("pipelines/ loads");
        let builtin = load(None).expect("built-in loads");
        assert_eq!(
            from_dir.len(),
            builtin.len(),
            "every file in pipelines/ is built in"
        );
        for p in &builtin {
            assert!(
                from_dir
                    .iter()
                    .any(|q| q.name == p.name && q.route == p.route)
            );
        }
    }

    #[test]
    fn batches_never_exceed_clickhouse_partition_limit() {
        for p in load(None).expect("built-in loads") {
            assert!(p.batch.max_projects_per_insert <= 100, "{}", p.name);
        }
    }
}
