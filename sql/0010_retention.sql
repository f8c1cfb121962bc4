-- Retention (issue 13, docs/CONTRACT.md §C24): every row carries its
-- expiries, stamped by the edge from the project's settings when it received
-- the row (`body_retention_hours`, `log_retention_days`), so a change of the
-- settings applies to new rows only.
--
--   body_expires_at  the bodies are emptied: ai_input, ai_output and
--                    attachments of events and partial events, the spans'
--                    body_attributes (their payload attributes, split from
--                    `attributes` at the edge: src/edge/otlp/span/payload.rs)
--   expires_at       the row is deleted
--
-- 0 is an expiry no edge stamped (a row stored before this migration, or
-- sent by an older edge): such a row expires by the defaults, 48 hours and
-- 90 days after its received_at. Current ClickHouse expires rows with TTL
-- (0011_retention_ttl.sql); ClickHouse 18.16 has no TTL, and the consumer's
-- sweeper does it there (src/sink/retention.rs).
ALTER TABLE events ADD COLUMN body_expires_at DateTime;
ALTER TABLE events ADD COLUMN expires_at DateTime;
ALTER TABLE partial_events ADD COLUMN body_expires_at DateTime;
ALTER TABLE partial_events ADD COLUMN expires_at DateTime;
ALTER TABLE signals ADD COLUMN expires_at DateTime;
ALTER TABLE users ADD COLUMN expires_at DateTime;
ALTER TABLE spans ADD COLUMN body_attributes String DEFAULT '{}';
ALTER TABLE spans ADD COLUMN body_expires_at DateTime;
ALTER TABLE spans ADD COLUMN expires_at DateTime;

-- The copies of `events` (0007) hold bodies too.
ALTER TABLE events_by_time ADD COLUMN body_expires_at DateTime;
ALTER TABLE events_by_time ADD COLUMN expires_at DateTime;
ALTER TABLE events_by_user ADD COLUMN body_expires_at DateTime;
ALTER TABLE events_by_user ADD COLUMN expires_at DateTime;

-- Their feeds name the columns they copy: new feeds that copy the expiries
-- first, then the old ones dropped (a row inserted in between is copied
-- twice, which the copies' keys make harmless; one copied only by an old
-- feed has unstamped expiries, the defaults).
CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_feed_v2 TO events_by_time AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_user_feed_v2 TO events_by_user AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at, ai_model,
       ai_input, ai_output, convo_id, properties, attachments, properties_truncated, feature_flags, extra,
       body_expires_at, expires_at
FROM events WHERE user_id != '';

DROP TABLE IF EXISTS events_by_time_feed;
DROP TABLE IF EXISTS events_by_user_feed;

-- A view's columns are fixed when it is created: the views of whole rows
-- are created again to show the new columns (0011 adds the spans' maps back
-- on a server that has them).
DROP TABLE IF EXISTS signals_view;
CREATE VIEW IF NOT EXISTS signals_view AS
SELECT * FROM signals FINAL;

DROP TABLE IF EXISTS users_view;
CREATE VIEW IF NOT EXISTS users_view AS
SELECT * FROM users FINAL;

DROP TABLE IF EXISTS spans_view;
CREATE VIEW IF NOT EXISTS spans_view AS
SELECT * FROM spans FINAL;
