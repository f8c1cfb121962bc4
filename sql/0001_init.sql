-- downpour schema, version 1. Runs on ClickHouse 18.16 and on current ClickHouse:
-- no TTL, DateTime64, LowCardinality or JSON functions (see docs/ARCHITECTURE.md).
--
-- Every data table is partitioned by (org, project): a project's rows never
-- share a part with another project's, a read of one project prunes to its
-- partition, and dropping a project's data is one DROP PARTITION. (Until
-- 0013_coarse_partitions.sql, which partitions them by receive month: one
-- part per INSERT however many projects it holds.)
-- Tables are ReplacingMergeTree keyed by (org, project, the row's id): a record
-- the consumer delivers twice leaves two identical rows that merges collapse,
-- and readers use the *_view views (FINAL) so they never see the second copy.
-- org and project lead every sorting key because ClickHouse 18.16's FINAL
-- merges across partitions: keyed by the id alone, one org's event would hide
-- another org's event with the same client-chosen id.
--
-- The column order of events, signals, users and partial_events is the
-- RowBinary layout of record version 1 (src/sink/schema.rs): change it only
-- with a new record version.

CREATE TABLE IF NOT EXISTS events (
    org String,
    project String,
    event_id String,
    user_id String,
    event String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at DateTime,
    ai_model String,
    ai_input String,
    ai_output String,
    convo_id String,
    properties String,
    attachments String,
    properties_truncated UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, event_id);

CREATE TABLE IF NOT EXISTS signals (
    org String,
    project String,
    signal_id String,
    event_id String,
    signal_name String,
    signal_type String,
    sentiment String,
    attachment_id String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at DateTime,
    properties String
) ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, event_id, signal_id);

-- The latest identify call wins (version = edge receive time in microseconds).
CREATE TABLE IF NOT EXISTS users (
    org String,
    project String,
    user_id String,
    traits String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY (org, project)
ORDER BY (org, project, user_id);

-- One row per patch of a partial event. Empty strings mean "not in this patch";
-- seq (edge receive time, microseconds) orders patches.
CREATE TABLE IF NOT EXISTS partial_events (
    org String,
    project String,
    event_id String,
    patch_id String,
    user_id String,
    event String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at DateTime,
    ai_model String,
    ai_input String,
    ai_output String,
    convo_id String,
    properties String,
    attachments String,
    properties_truncated UInt8,
    is_pending UInt8,
    seq UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, event_id, patch_id);

-- Partial events merged field by field (the latest patch that set a field
-- wins), and only once a patch said is_pending = false.
CREATE VIEW IF NOT EXISTS partial_events_final AS
SELECT
    org,
    project,
    event_id,
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
    max(properties_truncated) AS properties_truncated
FROM partial_events FINAL
GROUP BY org, project, event_id
HAVING min(is_pending) = 0;

-- What readers query: every event once, finalized partial events included.
CREATE VIEW IF NOT EXISTS events_view AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated
FROM events FINAL
UNION ALL
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated
FROM partial_events_final;

CREATE VIEW IF NOT EXISTS signals_view AS
SELECT * FROM signals FINAL;

CREATE VIEW IF NOT EXISTS users_view AS
SELECT * FROM users FINAL;

-- API keys: only SHA-256 of the key is stored (src/registry/keys.rs).
CREATE TABLE IF NOT EXISTS keys (
    key_id String,
    org String,
    project String,
    role String,
    secret_hash String,
    revoked UInt8,
    version UInt64,
    created_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(version)
ORDER BY (key_id);
