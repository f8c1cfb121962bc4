-- Per-project browser origins (issue 10): the origins whose pages may send
-- the project data; empty is any origin. ClickHouse 18.16 has no
-- `ADD COLUMN IF NOT EXISTS`: the migrator takes "already exists" as done,
-- so two migrators racing still converge.
ALTER TABLE projects ADD COLUMN allowed_origins Array(String);
