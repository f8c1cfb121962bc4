-- Projects (docs/CONTRACT.md §C5 to §C7, §C16 to §C18).
--
-- One row per change; the latest version of (org, slug) is the project.
-- Keyed by (org, slug), so two creates of the same slug that race end as one
-- project; an archived project keeps its row forever, which is what makes an
-- archived slug impossible to reuse. `default` has a row only once renamed.
CREATE TABLE IF NOT EXISTS projects (
    org String,
    slug String,
    name String,
    metadata String,
    status String,
    rate_limit_rpm UInt32,
    body_retention_hours UInt32,
    log_retention_days UInt32,
    created_at DateTime,
    updated_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org, slug);

-- Slugs first seen on ingest that have no project yet ("Projects with data,
-- not yet created"). A row is written once per new slug, by the edge that
-- admitted it under the org's pending limit.
CREATE TABLE IF NOT EXISTS pending_slugs (
    org String,
    slug String,
    first_seen DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY (org, slug);

-- Per-org settings; pending_limit = 0 means the configured default.
CREATE TABLE IF NOT EXISTS org_settings (
    org String,
    pending_limit UInt32,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org);

-- Written by the consumers after each flush: rows per (org, project, stream)
-- and when they were last seen. Feeds the pending-projects panel. A consumer
-- that crashes between INSERT and commit re-counts that batch (at least once);
-- the events themselves still show once.
CREATE TABLE IF NOT EXISTS project_activity (
    org String,
    project String,
    stream String,
    rows UInt64,
    last_seen DateTime
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(last_seen)
ORDER BY (org, project, stream, last_seen);
