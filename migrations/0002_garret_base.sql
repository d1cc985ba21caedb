-- 0002: garret's first additions. Additive only (new indexes), so atticd can still run on the
-- database; names carry a `garret-` prefix so no future atticd index can collide with them.

-- Reaping NARs and chunks stuck in `P` after a crash: WHERE state = 'P' AND created_at < $cutoff.
CREATE INDEX IF NOT EXISTS "garret-idx-nar-state-created-at" ON nar (state, created_at);
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-state-created-at" ON chunk (state, created_at);

-- Orphan-NAR detection (NOT EXISTS (SELECT 1 FROM object WHERE nar_id = nar.id)); atticd has no
-- index on object.nar_id, so its GC scans `object` once per candidate NAR.
CREATE INDEX IF NOT EXISTS "garret-idx-object-nar-id" ON object (nar_id);

-- Retention expiry per cache: WHERE cache_id = $1 AND created_at < $cutoff.
CREATE INDEX IF NOT EXISTS "garret-idx-object-cache-created-at" ON object (cache_id, created_at);
