-- Redaction policies (issue 13, docs/CONTRACT.md §C23): an org's named sets
-- of built-in detectors and regex rules, immutable once created; each
-- project names its active one (`default`: every org's built-in policy,
-- every detector) and whether every turn of a conversation is redacted or
-- only the last. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: the
-- migrator takes "already exists" as done.
CREATE TABLE IF NOT EXISTS redaction_policies (
    org String,
    policy_id String,
    name String,
    detectors Array(String),
    rules String,
    created_at DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY (org, policy_id);

ALTER TABLE projects ADD COLUMN active_policy_id String DEFAULT 'default';

ALTER TABLE projects ADD COLUMN filter_all_messages UInt8 DEFAULT 1;
