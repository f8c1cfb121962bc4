-- requires ClickHouse 22.1
-- Retention by TTL (issue 13, docs/CONTRACT.md §C24), where the server has
-- it: a column TTL empties the bodies (the column's DEFAULT replaces an
-- expired value), a row TTL deletes the row, both in the server's merges.
-- On ClickHouse 18.16 (no TTL) this file stays pending and the consumer's
-- sweeper does the same with mutations (src/sink/retention.rs); the
-- sweeper stands down on a server that runs this file.
--
-- An expiry of 0 was stamped by no edge (0010_retention.sql): the row
-- expires 48 hours (bodies) and 90 days (the row) after its received_at.
--
-- Cost: the server computes the new TTLs for the rows already stored
-- (`materialize_ttl_after_modify`), one background rewrite per table since
-- each table's changes are one ALTER; on a large table that is the I/O of
-- rewriting it once, right after `migrate` on the upgraded server.
ALTER TABLE events
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE events_by_time
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE events_by_user
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

-- A patch's empty attachments mean "not in this patch" (partial_events_final).
ALTER TABLE partial_events
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE spans
    MODIFY COLUMN body_attributes String DEFAULT '{}' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE signals MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE users MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

-- spans_view as 0006 made it, now with the columns 0010 added.
DROP TABLE IF EXISTS spans_view;
CREATE VIEW IF NOT EXISTS spans_view AS
SELECT *, attributes_map, resource_attributes_map FROM spans FINAL;
