-- Spans (issue 10): OTLP/HTTP traces from every Raindrop client, one row per
-- span, laid out like the other data tables: partitioned by (org, project),
-- org and project leading the sorting key, ReplacingMergeTree keyed by
-- (trace_id, span_id) so a redelivered span collapses and spans_view (FINAL)
-- shows it once. event_id, user_id, convo_id and event_name are the Raindrop
-- links pulled out of the attributes at the edge: join spans to events with
--   SELECT ... FROM spans_view INNER JOIN events_view USING (org, project, event_id)
-- attributes and resource_attributes are JSON objects
-- (visitParamExtractString(attributes, 'gen_ai.request.model')).
--
-- The column order is the RowBinary layout of record version 1 for stream
-- tag 5 (src/pipeline/rows.rs, SpanRow).
CREATE TABLE IF NOT EXISTS spans (
    org String,
    project String,
    trace_id String,
    span_id String,
    parent_span_id String,
    trace_state String,
    name String,
    kind String,
    start_time DateTime,
    start_time_ns UInt64,
    end_time_ns UInt64,
    duration_ns UInt64,
    status_code String,
    status_message String,
    attributes String,
    resource_attributes String,
    scope_name String,
    scope_version String,
    events String,
    links String,
    event_id String,
    user_id String,
    convo_id String,
    event_name String,
    received_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY (org, project)
ORDER BY (org, project, trace_id, span_id);

CREATE VIEW IF NOT EXISTS spans_view AS
SELECT * FROM spans FINAL;
