-- 0002 (SQLite): the indexes of the Postgres 0002, same names and columns.
CREATE INDEX IF NOT EXISTS "garret-idx-nar-state-created-at" ON nar (state, created_at);
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-state-created-at" ON chunk (state, created_at);
CREATE INDEX IF NOT EXISTS "garret-idx-object-nar-id" ON object (nar_id);
CREATE INDEX IF NOT EXISTS "garret-idx-object-cache-created-at" ON object (cache_id, created_at);
-- atticd's SQLite migrations lose `idx-nar-nar-hash` when migration 5 rebuilds `nar`; dedup looks
-- NARs up by hash on every upload, so garret adds it back under its own name.
CREATE INDEX IF NOT EXISTS "garret-idx-nar-nar-hash" ON nar (nar_hash);
