-- requires ClickHouse 22.1
-- What sql/0006_span_attribute_maps.sql and sql/0011_retention_ttl.sql add
-- on a current server, for the cluster form: the span attribute maps (on
-- the local table, and as ALIAS columns of the Distributed one, computed
-- where the query runs) and the
-- retention TTLs of the local tables (an ALTER of a replicated table
-- reaches its replicas; run on each, it sets the same TTL again).
ALTER TABLE spans_local ADD COLUMN IF NOT EXISTS attributes_map Map(String, String) MATERIALIZED CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(attributes)), 'Map(String, String)');
ALTER TABLE spans_local ADD COLUMN IF NOT EXISTS resource_attributes_map Map(String, String) MATERIALIZED CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(resource_attributes)), 'Map(String, String)');
ALTER TABLE spans ADD COLUMN IF NOT EXISTS attributes_map Map(String, String) ALIAS CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(attributes)), 'Map(String, String)');
ALTER TABLE spans ADD COLUMN IF NOT EXISTS resource_attributes_map Map(String, String) ALIAS CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(resource_attributes)), 'Map(String, String)');

ALTER TABLE events_local
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE events_by_time_local
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE events_by_user_local
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String DEFAULT '[]' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

-- A patch's empty attachments mean "not in this patch" (partial_events_final).
ALTER TABLE partial_events_local
    MODIFY COLUMN ai_input String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN ai_output String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY COLUMN attachments String TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE spans_local
    MODIFY COLUMN body_attributes String DEFAULT '{}' TTL if(body_expires_at = 0, received_at + INTERVAL 48 HOUR, body_expires_at),
    MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE signals_local MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

ALTER TABLE users_local MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);

-- spans_view as 0006 made it, now with the columns 0010 added.
DROP TABLE IF EXISTS spans_view;
CREATE VIEW IF NOT EXISTS spans_view AS
SELECT *, attributes_map, resource_attributes_map FROM spans FINAL;
