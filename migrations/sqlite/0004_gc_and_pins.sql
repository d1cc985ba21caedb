-- 0004 (SQLite): settings, pins, GC queues and runs, as the Postgres 0004. Pins keep their path
-- lists as JSON text arrays. The triggers use only SQLite's own SQL, so they keep working when
-- atticd writes to the file.
CREATE TABLE IF NOT EXISTS garret_cache_settings (
    cache_id bigint PRIMARY KEY REFERENCES cache (id) ON DELETE CASCADE,
    closure_retention boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS garret_pin (
    cache_id bigint NOT NULL REFERENCES cache (id) ON DELETE CASCADE,
    name varchar(100) NOT NULL,
    store_paths text NOT NULL,
    store_path_hashes text NOT NULL,
    expires_at timestamp_with_timezone_text NULL,
    created_at timestamp_with_timezone_text NOT NULL,
    updated_at timestamp_with_timezone_text NOT NULL,
    created_by varchar NULL,
    PRIMARY KEY (cache_id, name)
);

CREATE TABLE IF NOT EXISTS garret_gc_nar_candidate (nar_id bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS garret_gc_chunk_candidate (chunk_id bigint PRIMARY KEY);

CREATE TABLE IF NOT EXISTS garret_gc_run (
    id integer PRIMARY KEY AUTOINCREMENT,
    started_at timestamp_with_timezone_text NOT NULL,
    finished_at timestamp_with_timezone_text NOT NULL,
    full_sweep boolean NOT NULL,
    objects bigint NOT NULL,
    nars bigint NOT NULL,
    chunks bigint NOT NULL,
    bytes bigint NOT NULL,
    failed_deletions bigint NOT NULL
);

CREATE TRIGGER IF NOT EXISTS garret_gc_object_deleted AFTER DELETE ON object
BEGIN
    INSERT OR IGNORE INTO garret_gc_nar_candidate (nar_id) VALUES (OLD.nar_id);
END;
CREATE TRIGGER IF NOT EXISTS garret_gc_object_nar_changed AFTER UPDATE OF nar_id ON object
    WHEN OLD.nar_id IS NOT NEW.nar_id
BEGIN
    INSERT OR IGNORE INTO garret_gc_nar_candidate (nar_id) VALUES (OLD.nar_id);
END;

-- Retention expiry per cache: the later of created_at and last_accessed_at against the cutoff.
CREATE INDEX IF NOT EXISTS "garret-idx-object-cache-last-use"
    ON object (cache_id, max(created_at, coalesce(last_accessed_at, created_at)));
-- No counterpart of the Postgres GIN index on "references": closure checks scan the cache's objects.
