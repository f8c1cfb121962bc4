-- The Query API's read tables (issue 11, docs/PERFORMANCE.md "Query API").
-- `events` is sorted by event_id (a lookup by id reads one granule), which
-- is the wrong order for "newest first" and "this user's events": on
-- ClickHouse 18.16 (no projections, no read-in-order) a page of the newest
-- 100 events read all of a project's rows. Materialized views copy every
-- row the consumer inserts into `events` into tables sorted for those
-- reads; the consumer does not change. Each is a ReplacingMergeTree keyed
-- by the event, like `events`: a redelivered row collapses on merge, and
-- the readers drop unmerged copies with `LIMIT 1 BY event_id`.
--
-- A column added to `events` later must be added to the two copies too,
-- and then to their feeds (a materialized view copies the columns its
-- SELECT names, so a feed keeps working meanwhile).
-- Both copies have the columns `events` has when this runs (`AS events`).
CREATE TABLE IF NOT EXISTS events_by_time AS events
ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, timestamp_ms, event_id);

CREATE TABLE IF NOT EXISTS events_by_user AS events
ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, user_id, timestamp_ms, event_id);

-- Per project: its earliest and latest event and how many rows it has
-- (copies included), where the lists' time windows start and how wide the
-- first is (src/control/query/window.rs): a project whose newest event is a
-- month old is read from there, not from now.
CREATE TABLE IF NOT EXISTS event_time_span (
    org String,
    project String,
    first_ms AggregateFunction(min, UInt64),
    last_ms AggregateFunction(max, UInt64),
    rows AggregateFunction(count)
) ENGINE = AggregatingMergeTree()
ORDER BY (org, project);

-- The feeds first, then the rows already there: a row inserted in between
-- is copied twice, which the keys above make harmless. The copies name
-- their columns: a re-run after a later migration added columns still fits.
CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_feed TO events_by_time AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra
FROM events;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_user_feed TO events_by_user AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra
FROM events WHERE user_id != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS event_time_span_feed TO event_time_span AS
SELECT org, project, minState(timestamp_ms) AS first_ms, maxState(timestamp_ms) AS last_ms,
       countState() AS rows
FROM events GROUP BY org, project;

INSERT INTO events_by_time (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
                            ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra)
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra
FROM events;

INSERT INTO events_by_user (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
                            ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra)
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra
FROM events WHERE user_id != '';

INSERT INTO event_time_span
SELECT org, project, minState(timestamp_ms), maxState(timestamp_ms), countState()
FROM events GROUP BY org, project;
