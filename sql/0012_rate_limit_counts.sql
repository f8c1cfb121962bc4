-- Rate limits across edges (issue 14, docs/CONTRACT.md §C16): each edge
-- publishes, about once a second, how many requests it admitted this minute
-- for each rate-limited project, and reads what the other edges admitted
-- (src/edge/rate_sync.rs). A count only grows within its minute, so a
-- reader takes each edge's largest (`max(count)` per edge) and sums them.
-- Partitioned by day: the edges drop the days before yesterday (no TTL on
-- ClickHouse 18.16).
CREATE TABLE IF NOT EXISTS rate_limit_counts (
    key String,
    minute UInt32,
    edge_id String,
    count UInt32
) ENGINE = MergeTree()
PARTITION BY intDiv(minute, 1440)
ORDER BY (minute, key, edge_id);
