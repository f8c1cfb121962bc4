-- requires ClickHouse 22.1
-- The row TTLs of 0011_retention_ttl.sql again: 0013_coarse_partitions.sql
-- created the data tables anew, and a table created `AS` another keeps its
-- columns' TTLs (the bodies) but not its row TTL.
ALTER TABLE events MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE events_by_time MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE events_by_user MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE partial_events MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE spans MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE signals MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
ALTER TABLE users MODIFY TTL if(expires_at = 0, received_at + INTERVAL 90 DAY, expires_at);
