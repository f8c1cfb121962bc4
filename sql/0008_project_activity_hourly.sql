-- project_activity rolled up per hour (issue 12): the dashboard reads an
-- org's activity every few seconds (the projects table, the pending panel),
-- and project_activity holds a row per consumer flush and project, which
-- grows by millions a month; its hourly rollup holds one per hour, stream
-- and project. The last hour's per-minute chart still reads
-- project_activity itself, by its sort key (org, project, stream, last_seen).
CREATE TABLE IF NOT EXISTS project_activity_hourly (
    org String,
    project String,
    stream String,
    hour DateTime,
    row_count AggregateFunction(sum, UInt64),
    latest AggregateFunction(max, DateTime)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (org, project, stream, hour);

-- Aliases differ from the source's column names: on 18.16 an alias named
-- like a column replaces that column everywhere else in the SELECT.
-- The feed first, then the rows already there: a flush recorded in between
-- is counted twice, as a consumer's crash between INSERT and commit can.
CREATE MATERIALIZED VIEW IF NOT EXISTS project_activity_hourly_feed TO project_activity_hourly AS
SELECT org, project, stream, toStartOfHour(last_seen) AS hour,
       sumState(rows) AS row_count, maxState(last_seen) AS latest
FROM project_activity GROUP BY org, project, stream, hour;

INSERT INTO project_activity_hourly
SELECT org, project, stream, toStartOfHour(last_seen), sumState(rows), maxState(last_seen)
FROM project_activity GROUP BY org, project, stream, toStartOfHour(last_seen);
