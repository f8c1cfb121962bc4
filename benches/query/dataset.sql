-- The Query API bench's data set (scripts/query_bench.sh, issue 11), built
-- once into its own database and kept (.run/query-bench): the analyst's
-- project `bench`/`analyst` holds 10,000,000 events over 30 days
-- (2026-10-01 to 2026-10-31, UTC) from 100,000 users, with 500,000
-- signals and 100,000 identifies; 100,000 of its events are delivered a
-- second time, as a consumer replay would (the reads must still count and
-- list each once); and 50,000,000 events of noisy neighbours share the
-- tables: 10 other orgs with 5 projects of 1,000,000 events each.
-- Rows go into `events`, as the consumer's INSERTs do, so every
-- materialized view of sql/ fills as in production. Statements end at a
-- line ending in ';' (the script sends them one by one).

INSERT INTO events (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
    ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated,
    feature_flags, extra)
SELECT 'bench', 'analyst', concat('ev-', toString(number)), concat('user-', toString(number % 100000)),
    ['chat', 'chat', 'chat', 'search', 'search', 'agent_run', 'tool_call', 'feedback', 'summarize', 'classify',
     'translate', 'extract', 'chat_followup', 'retry', 'escalate', 'onboarding', 'billing', 'export', 'import', 'admin'][number % 20 + 1],
    toDateTime(intDiv(ts, 1000)) AS t, 1790812800000 + intDiv(number * 2592000, 10000) AS ts, t, 'gpt-4o',
    concat('how do I ', ['refund', 'invoice', 'password', 'export', 'webhook', 'latency', 'upgrade', 'timeout'][number % 8 + 1],
           ' ', toString(number % 977), ' for my team of ', toString(number % 50), ' people'),
    concat('Open settings, then ', ['billing', 'security', 'data', 'integrations'][number % 4 + 1],
           '; ticket ', toString(number % 7919), ' tracks it.'),
    concat('convo-', toString(intDiv(number, 8))),
    concat('{"plan":"', ['free', 'pro', 'team'][number % 3 + 1], '","n":', toString(number % 10), '}'),
    '[]', 0, '{}', '{}'
FROM numbers(10000000);

-- The replay: 1 % of the analyst's events again, the same rows.
INSERT INTO events
SELECT * FROM events
WHERE org = 'bench' AND project = 'analyst' AND toUInt64(substring(event_id, 4)) % 100 = 7;

INSERT INTO events (org, project, event_id, user_id, event, timestamp, timestamp_ms, received_at,
    ai_model, ai_input, ai_output, convo_id, properties, attachments, properties_truncated,
    feature_flags, extra)
SELECT concat('noise-', toString(intDiv(number, 5000000))), concat('p', toString(intDiv(number, 1000000) % 5)),
    concat('ev-', toString(number % 10000000)), concat('user-', toString(number % 100000)),
    ['chat', 'search', 'agent_run', 'tool_call'][number % 4 + 1],
    toDateTime(intDiv(ts, 1000)) AS t, 1790812800000 + intDiv((number % 1000000) * 2592000, 1000) AS ts, t, 'gpt-4o-mini',
    concat('how do I ', ['refund', 'invoice', 'password', 'export'][number % 4 + 1], ' ', toString(number % 977)),
    'Open settings.', concat('convo-', toString(intDiv(number, 8))), '{}', '[]', 0, '{}', '{}'
FROM numbers(50000000);

INSERT INTO signals (org, project, signal_id, event_id, signal_name, signal_type, sentiment,
    attachment_id, timestamp, timestamp_ms, received_at, properties)
SELECT 'bench', 'analyst', concat('sig-', toString(number)), concat('ev-', toString(number * 20)),
    ['thumbs_up', 'thumbs_down', 'copied', 'regenerated', 'escalated'][number % 5 + 1],
    ['feedback', 'feedback', 'default', 'default', 'agent'][number % 5 + 1],
    ['POSITIVE', 'NEGATIVE', '', '', 'NEGATIVE'][number % 5 + 1], '',
    toDateTime(intDiv(ts, 1000)) AS t, 1790812800000 + intDiv(number * 20 * 2592000, 10000) + 1000 AS ts, t, '{}'
FROM numbers(500000);

INSERT INTO users (org, project, user_id, traits, timestamp, timestamp_ms, received_at, version)
SELECT 'bench', 'analyst', concat('user-', toString(number)),
    concat('{"plan":"', ['free', 'pro', 'team'][number % 3 + 1], '","seats":', toString(number % 40), '}'),
    toDateTime(1790812800), 1790812800000, toDateTime(1790812800), 1
FROM numbers(100000);
