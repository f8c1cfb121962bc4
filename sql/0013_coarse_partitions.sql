-- Coarse partitions (issue 14, docs/ARCHITECTURE.md "Scaling out"): every
-- data table was partitioned by (org, project), so an INSERT wrote one part
-- per project it held and the consumer split a batch into INSERTs of at
-- most 100 projects. With 10,000 active projects that was 100 INSERTs per
-- batch, and at 2 INSERTs per second per table a row waited ~50 s to be
-- readable. Now every data table is partitioned by the month its rows were
-- received: an INSERT writes one part (two across a month's end) whatever
-- the number of projects, and the consumer sends a batch as one INSERT
-- (src/sink/partitioning.rs reads the partition key, not this file).
--
-- Unchanged: the sorting keys, which lead with (org, project), so a read of
-- one project still reads only its granules; ids still collapse copies (the
-- views read FINAL, which merges across partitions; a redelivered record
-- carries the received_at of its first delivery, so its copy lands in the
-- same partition and merges away). Retention is by row expiry (0010) and
-- never needed a partition per project; deleting one project's rows is a
-- mutation (`ALTER TABLE ... DELETE WHERE org = .. AND project = ..`).
--
-- ClickHouse cannot change a table's partition key, so each table is
-- created again and swapped in by one RENAME. Order, for a deployment whose
-- consumers keep running:
--   1. the new tables, empty, with the columns the old ones have now;
--   2. a RENAME per table swaps it: from then on INSERTs go to the new one
--      (reads show only those rows until step 4 has copied the older ones:
--      run this off-peak);
--   3. the feeds of events' copies are created on the new `events` and the
--      old feeds dropped (ClickHouse 18.16 ties a feed to a table's name,
--      current ClickHouse to the table itself, which the swap renamed; on
--      18.16 the old feeds feed the new tables until then);
--   4. the rows inserted into the new `events` before its new feeds existed
--      are copied into its copies, then the rows stored before the swap are
--      copied in. A row inserted during the swap may be there twice, which
--      its id makes harmless; copying `events` feeds its copies, so the old
--      copies are not copied;
--      `event_time_span.rows` counts them twice (it counts copies anyway:
--      it only sizes the Query API's first window);
--   5. the old tables are dropped (and empty new ones a stopped run left).
-- Every statement can run twice: a RENAME whose first target exists has
-- already swapped that table (src/sink/schema.rs, already_applied), and a
-- full re-run swaps and copies again, losing nothing. The copy costs one read and one
-- write of the data tables; run `downpour migrate` off-peak on a large
-- deployment. Current ClickHouse keeps the column TTLs in step 1 but not
-- the row TTLs: 0014_coarse_partitions_ttl.sql sets them again.

CREATE TABLE IF NOT EXISTS events_by_month AS events
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, event_id);

CREATE TABLE IF NOT EXISTS signals_by_month AS signals
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, event_id, signal_id);

CREATE TABLE IF NOT EXISTS users_by_month AS users
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, user_id);

CREATE TABLE IF NOT EXISTS partial_events_by_month AS partial_events
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, event_id, patch_id);

CREATE TABLE IF NOT EXISTS spans_by_month AS spans
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, trace_id, span_id);

CREATE TABLE IF NOT EXISTS events_by_time_by_month AS events_by_time
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, timestamp_ms, event_id);

CREATE TABLE IF NOT EXISTS events_by_user_by_month AS events_by_user
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (org, project, user_id, timestamp_ms, event_id);

-- One RENAME per table, each swapping the two at once (a RENAME of several
-- pairs is not atomic: a re-run could find some pairs done and not others).
RENAME TABLE events TO events_by_project, events_by_month TO events;
RENAME TABLE signals TO signals_by_project, signals_by_month TO signals;
RENAME TABLE users TO users_by_project, users_by_month TO users;
RENAME TABLE partial_events TO partial_events_by_project, partial_events_by_month TO partial_events;
RENAME TABLE spans TO spans_by_project, spans_by_month TO spans;
RENAME TABLE events_by_time TO events_by_time_by_project, events_by_time_by_month TO events_by_time;
RENAME TABLE events_by_user TO events_by_user_by_project, events_by_user_by_month TO events_by_user;

-- The feeds as 0010 and 0007 made them, on the new `events`. Each is
-- dropped first: on current ClickHouse a feed a previous run created
-- followed its `events` when this run's RENAME moved it aside.
DROP TABLE IF EXISTS events_by_time_feed_v3;
CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_feed_v3 TO events_by_time AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events;

DROP TABLE IF EXISTS events_by_user_feed_v3;
CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_user_feed_v3 TO events_by_user AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events WHERE user_id != '';

DROP TABLE IF EXISTS event_time_span_feed_v2;
CREATE MATERIALIZED VIEW IF NOT EXISTS event_time_span_feed_v2 TO event_time_span AS
SELECT org, project, minState(timestamp_ms) AS first_ms, maxState(timestamp_ms) AS last_ms,
       countState() AS rows
FROM events GROUP BY org, project;

DROP TABLE IF EXISTS events_by_time_feed_v2;
DROP TABLE IF EXISTS events_by_user_feed_v2;
DROP TABLE IF EXISTS event_time_span_feed;

-- Rows inserted into the new `events` between its swap and its new feeds
-- (current ClickHouse: the old feeds followed the old table) are copied
-- into the copies now; a row copied twice collapses.
INSERT INTO events_by_time (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at)
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events;
INSERT INTO events_by_user (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at)
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events WHERE user_id != '';
INSERT INTO event_time_span
SELECT org, project, minState(timestamp_ms), maxState(timestamp_ms), countState()
FROM events GROUP BY org, project;

-- The rows stored before the swap (the tables have the same columns: step 1).
INSERT INTO events SELECT * FROM events_by_project;
INSERT INTO signals SELECT * FROM signals_by_project;
INSERT INTO users SELECT * FROM users_by_project;
INSERT INTO partial_events SELECT * FROM partial_events_by_project;
INSERT INTO spans SELECT * FROM spans_by_project;

DROP TABLE IF EXISTS events_by_project;
DROP TABLE IF EXISTS signals_by_project;
DROP TABLE IF EXISTS users_by_project;
DROP TABLE IF EXISTS partial_events_by_project;
DROP TABLE IF EXISTS spans_by_project;
DROP TABLE IF EXISTS events_by_time_by_project;
DROP TABLE IF EXISTS events_by_user_by_project;

-- A run that stopped after the RENAME, run again, made new tables in step 1
-- that its RENAME did not swap in: empty, dropped.
DROP TABLE IF EXISTS events_by_month;
DROP TABLE IF EXISTS signals_by_month;
DROP TABLE IF EXISTS users_by_month;
DROP TABLE IF EXISTS partial_events_by_month;
DROP TABLE IF EXISTS spans_by_month;
DROP TABLE IF EXISTS events_by_time_by_month;
DROP TABLE IF EXISTS events_by_user_by_month;
