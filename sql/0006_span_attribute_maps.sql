-- requires ClickHouse 22.1
-- Span attributes as maps (issue 10), where the server has the Map type:
--   SELECT attributes_map['gen_ai.request.model'] FROM spans_view
-- Map is not on ClickHouse 18.16 (there, visitParamExtractString(attributes,
-- 'gen_ai.request.model') reads the JSON), and needs
-- allow_experimental_map_type up to 21.7: the migrator applies this file only
-- on a server of the version named above or newer, and leaves it pending on
-- an older one (a `migrate` after the server's upgrade applies it).
--
-- Computed by the server from the JSON columns (MATERIALIZED: at INSERT, and
-- on read for rows written before this migration); the consumer's rows do not
-- carry them (src/pipeline/rows.rs), and `SELECT *` on the table leaves them
-- out, so spans_view names them. Values are strings: a JSON string's
-- text, any other value as its JSON (42, true, {"x":[1]}).
ALTER TABLE spans ADD COLUMN IF NOT EXISTS attributes_map Map(String, String) MATERIALIZED CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(attributes)), 'Map(String, String)');
ALTER TABLE spans ADD COLUMN IF NOT EXISTS resource_attributes_map Map(String, String) MATERIALIZED CAST(arrayMap(kv -> (kv.1, if(startsWith(kv.2, '"'), JSONExtractString(kv.2), kv.2)), JSONExtractKeysAndValuesRaw(resource_attributes)), 'Map(String, String)');

-- A view's columns are fixed when it is created: recreated to show the maps.
DROP TABLE IF EXISTS spans_view;
CREATE VIEW IF NOT EXISTS spans_view AS
SELECT *, attributes_map, resource_attributes_map FROM spans FINAL;
