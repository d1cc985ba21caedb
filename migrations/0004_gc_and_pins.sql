-- 0004: retention, closure-aware retention, pins and incremental garbage collection (issue 7).
-- Additive only: new garret_* tables, two indexes on `object`, and two triggers on `object` that
-- only write into garret's own candidate table, so atticd still runs on the database unchanged.

-- Per-cache garret settings. Caches garret creates get a row (closure_retention = true); caches
-- without a row (adopted from atticd, or created before this migration) behave as false.
CREATE TABLE IF NOT EXISTS garret_cache_settings (
    cache_id bigint PRIMARY KEY,
    closure_retention boolean NOT NULL,
    CONSTRAINT "garret-fk-cache-settings-cache" FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE
);

-- Named GC roots: the listed store paths and their closure in the cache are immune to retention
-- until expires_at (NULL = never). store_path_hashes is store_paths reduced to their hash parts.
CREATE TABLE IF NOT EXISTS garret_pin (
    cache_id bigint NOT NULL,
    name varchar(100) NOT NULL,
    store_paths text[] NOT NULL,
    store_path_hashes text[] NOT NULL,
    expires_at timestamptz NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_by varchar NULL,
    PRIMARY KEY (cache_id, name),
    CONSTRAINT "garret-fk-pin-cache" FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE
);

-- Work queues of the collector, so a run looks at what may have become garbage instead of
-- scanning every NAR and chunk: NARs that lost an object, chunks that lost a NAR. No foreign keys:
-- an id whose row is gone is simply dropped from the queue.
CREATE TABLE IF NOT EXISTS garret_gc_nar_candidate (nar_id bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS garret_gc_chunk_candidate (chunk_id bigint PRIMARY KEY);

-- One row per finished collection (the last ones are kept): "last GC" in cache statistics, and the
-- watermark from which the next run looks for chunks of failed uploads.
CREATE TABLE IF NOT EXISTS garret_gc_run (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    full_sweep boolean NOT NULL,
    objects bigint NOT NULL,
    nars bigint NOT NULL,
    chunks bigint NOT NULL,
    bytes bigint NOT NULL,
    failed_deletions bigint NOT NULL
);

-- Every way a NAR can lose an object (GC expiry, path deletion, cache deletion by cascade, a
-- re-upload pointing the object at another NAR; from garret or atticd) queues the NAR.
CREATE OR REPLACE FUNCTION garret_gc_queue_nar() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO garret_gc_nar_candidate (nar_id) VALUES (OLD.nar_id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER garret_gc_object_deleted AFTER DELETE ON object
    FOR EACH ROW EXECUTE FUNCTION garret_gc_queue_nar();
CREATE OR REPLACE TRIGGER garret_gc_object_nar_changed AFTER UPDATE OF nar_id ON object
    FOR EACH ROW WHEN (OLD.nar_id IS DISTINCT FROM NEW.nar_id) EXECUTE FUNCTION garret_gc_queue_nar();

-- Retention expiry: WHERE cache_id = $1 AND GREATEST(created_at, last_accessed_at) < $cutoff, which
-- is exactly atticd's `created_at < cutoff AND (last_accessed_at IS NULL OR last_accessed_at <
-- cutoff)` (GREATEST ignores NULL), so the scan touches only expired rows.
CREATE INDEX IF NOT EXISTS "garret-idx-object-cache-last-use"
    ON object (cache_id, (GREATEST(created_at, last_accessed_at)));

-- Closure-aware retention asks "which objects reference this base name?":
-- WHERE "references"::jsonb ? $base.
CREATE INDEX IF NOT EXISTS "garret-idx-object-references" ON object USING gin ((("references")::jsonb));
