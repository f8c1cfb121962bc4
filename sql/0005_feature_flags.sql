-- What the clients send besides the documented fields (issue 10), kept:
-- `feature_flags` (the AI SDK integration's patches) and `extra`, a JSON
-- object of any other top-level field. They are the last columns of the
-- events and partial_events rows from record version 2 on (src/pipeline/rows.rs);
-- the consumer completes version-1 rows with '{}' (events) or '' (patches:
-- "not in this patch").
ALTER TABLE events ADD COLUMN feature_flags String DEFAULT '{}';
ALTER TABLE events ADD COLUMN extra String DEFAULT '{}';
ALTER TABLE partial_events ADD COLUMN feature_flags String DEFAULT '';
ALTER TABLE partial_events ADD COLUMN extra String DEFAULT '';

-- The views gain both columns: dropped and created again (a view's column
-- list is fixed when it is created). Readers querying in between get an
-- error for a moment; migrations run before a deploy's processes start.
DROP TABLE IF EXISTS events_view;
DROP TABLE IF EXISTS partial_events_final;

CREATE VIEW IF NOT EXISTS partial_events_final AS
SELECT
    org,
    project,
    event_id,
    argMaxIf(user_id, seq, user_id != '') AS user_id,
    argMaxIf(event, seq, event != '') AS event,
    argMin(timestamp, seq) AS timestamp,
    argMin(timestamp_ms, seq) AS timestamp_ms,
    max(received_at) AS received_at,
    argMaxIf(ai_model, seq, ai_model != '') AS ai_model,
    argMaxIf(ai_input, seq, ai_input != '') AS ai_input,
    argMaxIf(ai_output, seq, ai_output != '') AS ai_output,
    argMaxIf(convo_id, seq, convo_id != '') AS convo_id,
    if(countIf(properties != '') = 0, '{}', argMaxIf(properties, seq, properties != '')) AS properties,
    if(countIf(attachments != '') = 0, '[]', argMaxIf(attachments, seq, attachments != '')) AS attachments,
    max(properties_truncated) AS properties_truncated,
    if(countIf(feature_flags != '') = 0, '{}', argMaxIf(feature_flags, seq, feature_flags != '')) AS feature_flags,
    if(countIf(extra != '') = 0, '{}', argMaxIf(extra, seq, extra != '')) AS extra
FROM partial_events FINAL
GROUP BY org, project, event_id
HAVING min(is_pending) = 0;

CREATE VIEW IF NOT EXISTS events_view AS
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated,
       feature_flags, extra
FROM events FINAL
UNION ALL
SELECT org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
       ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated,
       feature_flags, extra
FROM partial_events_final;
