-- The cluster form of the schema (docs/ARCHITECTURE.md "Scaling out"):
-- the state sql/0001..0014 reach on one server, for a cluster of shards
-- of replicas, applied by `downpour migrate` to every server listed in
-- `clickhouse.shards`. `${database}` and `${cluster}` are the configured
-- names (identifiers, checked); `{shard}` and `{replica}` are each
-- server's macros.
--
-- - Ingested rows (events and its copies, partial events, signals, users,
--   spans, event_time_span) live in `<table>_local`, replicated within a
--   shard; the consumer writes a project's rows to one shard (its record
--   key's hash), so FINAL on a shard sees every copy of a row. Readers
--   read `<table>`, a Distributed table over every shard, under the name
--   the one-server schema gives the table itself; it has no sharding key,
--   so an INSERT into it is refused rather than spread by another rule.
-- - The registry (projects, keys, org settings, pending slugs, redaction
--   policies), project activity and the rate-limit counts are replicated
--   on every server (one replica set, replica `{shard}-{replica}`): any
--   server answers the edge and the control plane.
-- - Feeds read the local table they are created on: ClickHouse runs a
--   materialized view on the server an INSERT reaches, and replicas fetch
--   the result, so each copy is fed once per INSERT.
-- The test tests/it/cluster.rs holds these columns to the one-server ones.

CREATE TABLE IF NOT EXISTS events_local (
    org String, project String, event_id String, user_id String, event String,
    timestamp DateTime, timestamp_ms UInt64, received_at DateTime,
    ai_model String, ai_input String, ai_output String, convo_id String,
    properties String, attachments String, properties_truncated UInt8,
    feature_flags String DEFAULT '{}', extra String DEFAULT '{}',
    body_expires_at DateTime, expires_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/events', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, event_id);

CREATE TABLE IF NOT EXISTS events_by_time_local AS events_local
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/events_by_time', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, timestamp_ms, event_id);

CREATE TABLE IF NOT EXISTS events_by_user_local AS events_local
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/events_by_user', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, user_id, timestamp_ms, event_id);

CREATE TABLE IF NOT EXISTS event_time_span_local (
    org String, project String,
    first_ms AggregateFunction(min, UInt64), last_ms AggregateFunction(max, UInt64),
    rows AggregateFunction(count)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/${cluster}/${database}/{shard}/event_time_span', '{replica}')
ORDER BY (org, project);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_feed TO events_by_time_local AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments,
       properties_truncated, feature_flags, extra, body_expires_at, expires_at
FROM events_local;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_user_feed TO events_by_user_local AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments,
       properties_truncated, feature_flags, extra, body_expires_at, expires_at
FROM events_local WHERE user_id != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS event_time_span_feed TO event_time_span_local AS
SELECT org, project, minState(timestamp_ms) AS first_ms, maxState(timestamp_ms) AS last_ms,
       countState() AS rows
FROM events_local GROUP BY org, project;

CREATE TABLE IF NOT EXISTS partial_events_local (
    org String, project String, event_id String, patch_id String, user_id String,
    event String, timestamp DateTime, timestamp_ms UInt64, received_at DateTime,
    ai_model String, ai_input String, ai_output String, convo_id String,
    properties String, attachments String, properties_truncated UInt8,
    is_pending UInt8, seq UInt64,
    feature_flags String DEFAULT '', extra String DEFAULT '',
    body_expires_at DateTime, expires_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/partial_events', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, event_id, patch_id);

CREATE TABLE IF NOT EXISTS signals_local (
    org String, project String, signal_id String, event_id String,
    signal_name String, signal_type String, sentiment String, attachment_id String,
    timestamp DateTime, timestamp_ms UInt64, received_at DateTime,
    properties String, expires_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/signals', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, event_id, signal_id);

CREATE TABLE IF NOT EXISTS users_local (
    org String, project String, user_id String, traits String,
    timestamp DateTime, timestamp_ms UInt64, received_at DateTime,
    version UInt64, expires_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/users', '{replica}', version)
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, user_id);

CREATE TABLE IF NOT EXISTS spans_local (
    org String, project String, trace_id String, span_id String,
    parent_span_id String, trace_state String, name String, kind String,
    start_time DateTime, start_time_ns UInt64, end_time_ns UInt64, duration_ns UInt64,
    status_code String, status_message String,
    attributes String, resource_attributes String, scope_name String, scope_version String,
    events String, links String,
    event_id String, user_id String, convo_id String, event_name String,
    received_at DateTime, body_attributes String DEFAULT '{}',
    body_expires_at DateTime, expires_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/{shard}/spans', '{replica}')
PARTITION BY toYYYYMM(received_at) ORDER BY (org, project, trace_id, span_id);

CREATE TABLE IF NOT EXISTS events AS events_local
ENGINE = Distributed(${cluster}, ${database}, events_local);
CREATE TABLE IF NOT EXISTS events_by_time AS events_by_time_local
ENGINE = Distributed(${cluster}, ${database}, events_by_time_local);
CREATE TABLE IF NOT EXISTS events_by_user AS events_by_user_local
ENGINE = Distributed(${cluster}, ${database}, events_by_user_local);
CREATE TABLE IF NOT EXISTS event_time_span AS event_time_span_local
ENGINE = Distributed(${cluster}, ${database}, event_time_span_local);
CREATE TABLE IF NOT EXISTS partial_events AS partial_events_local
ENGINE = Distributed(${cluster}, ${database}, partial_events_local);
CREATE TABLE IF NOT EXISTS signals AS signals_local
ENGINE = Distributed(${cluster}, ${database}, signals_local);
CREATE TABLE IF NOT EXISTS users AS users_local
ENGINE = Distributed(${cluster}, ${database}, users_local);
CREATE TABLE IF NOT EXISTS spans AS spans_local
ENGINE = Distributed(${cluster}, ${database}, spans_local);

CREATE VIEW IF NOT EXISTS partial_events_final AS
SELECT org, project, event_id,
       argMaxIf(user_id, seq, user_id != '') AS user_id,
       argMaxIf(event, seq, event != '') AS event,
       argMin(timestamp, seq) AS timestamp,
       argMin(timestamp_ms, seq) AS timestamp_ms,
       max(received_at) AS received_at,
       argMaxIf(ai_model, seq, ai_model != '') AS ai_model,
       argMaxIf(ai_input, seq, ai_input != '') AS ai_input,
       argMaxIf(ai_output, seq, ai_output != '') AS ai_output,
       argMaxIf(convo_id, seq, convo_id != '') AS convo_id,
       if(countIf(properties != '') = 0, '{}', argMaxIf(properties, seq, properties != '')) AS properties,
       if(countIf(attachments != '') = 0, '[]', argMaxIf(attachments, seq, attachments != '')) AS attachments,
       max(properties_truncated) AS properties_truncated,
       if(countIf(feature_flags != '') = 0, '{}', argMaxIf(feature_flags, seq, feature_flags != '')) AS feature_flags,
       if(countIf(extra != '') = 0, '{}', argMaxIf(extra, seq, extra != '')) AS extra
FROM partial_events FINAL
GROUP BY org, project, event_id
HAVING min(is_pending) = 0;

CREATE VIEW IF NOT EXISTS events_view AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments,
       properties_truncated, feature_flags, extra
FROM events FINAL
UNION ALL
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments,
       properties_truncated, feature_flags, extra
FROM partial_events_final;

CREATE VIEW IF NOT EXISTS signals_view AS SELECT * FROM signals FINAL;
CREATE VIEW IF NOT EXISTS users_view AS SELECT * FROM users FINAL;
CREATE VIEW IF NOT EXISTS spans_view AS SELECT * FROM spans FINAL;

CREATE TABLE IF NOT EXISTS projects (
    org String, slug String, name String, metadata String, status String,
    rate_limit_rpm UInt32, body_retention_hours UInt32, log_retention_days UInt32,
    created_at DateTime, updated_at DateTime, version UInt64,
    allowed_origins Array(String),
    active_policy_id String DEFAULT 'default', filter_all_messages UInt8 DEFAULT 1
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/all/projects', '{shard}-{replica}', version)
ORDER BY (org, slug);

CREATE TABLE IF NOT EXISTS keys (
    key_id String, org String, project String, role String, secret_hash String,
    revoked UInt8, version UInt64, created_at DateTime DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/all/keys', '{shard}-{replica}', version)
ORDER BY key_id;

CREATE TABLE IF NOT EXISTS org_settings (
    org String, pending_limit UInt32, version UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/all/org_settings', '{shard}-{replica}', version)
ORDER BY org;

CREATE TABLE IF NOT EXISTS pending_slugs (
    org String, slug String, first_seen DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/all/pending_slugs', '{shard}-{replica}')
ORDER BY (org, slug);

CREATE TABLE IF NOT EXISTS redaction_policies (
    org String, policy_id String, name String, detectors Array(String),
    rules String, created_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/${cluster}/${database}/all/redaction_policies', '{shard}-{replica}')
ORDER BY (org, policy_id);

CREATE TABLE IF NOT EXISTS project_activity (
    org String, project String, stream String, rows UInt64, last_seen DateTime
) ENGINE = ReplicatedMergeTree('/clickhouse/${cluster}/${database}/all/project_activity', '{shard}-{replica}')
PARTITION BY toYYYYMM(last_seen) ORDER BY (org, project, stream, last_seen);

CREATE TABLE IF NOT EXISTS project_activity_hourly (
    org String, project String, stream String, hour DateTime,
    row_count AggregateFunction(sum, UInt64), latest AggregateFunction(max, DateTime)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/${cluster}/${database}/all/project_activity_hourly', '{shard}-{replica}')
PARTITION BY toYYYYMM(hour) ORDER BY (org, project, stream, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS project_activity_hourly_feed TO project_activity_hourly AS
SELECT org, project, stream, toStartOfHour(last_seen) AS hour,
       sumState(rows) AS row_count, maxState(last_seen) AS latest
FROM project_activity GROUP BY org, project, stream, hour;

CREATE TABLE IF NOT EXISTS rate_limit_counts (
    key String, minute UInt32, edge_id String, count UInt32
) ENGINE = ReplicatedMergeTree('/clickhouse/${cluster}/${database}/all/rate_limit_counts', '{shard}-{replica}')
PARTITION BY intDiv(minute, 60) ORDER BY (minute, key, edge_id);
