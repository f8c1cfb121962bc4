-- Rate limits across edges (issue 14, docs/CONTRACT.md §C16): every
-- exchange interval (1 s) each edge writes the counts of this minute that
-- changed, one row per rate-limited project with traffic, and reads what
-- the other edges admitted (src/edge/rate_sync.rs). A count only grows
-- within its minute, so a reader takes each edge's largest (`max(count)`
-- per edge) and sums them. Partitioned by hour: the edges drop the hours
-- before the previous one (no TTL on ClickHouse 18.16), so the table holds
-- at most two hours of rows.
CREATE TABLE IF NOT EXISTS rate_limit_counts (
    key String,
    minute UInt32,
    edge_id String,
    count UInt32
) ENGINE = MergeTree()
PARTITION BY intDiv(minute, 60)
ORDER BY (minute, key, edge_id);
