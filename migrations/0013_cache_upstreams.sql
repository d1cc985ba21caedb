-- 0013: per-cache upstream binary caches for pull-through (issue 18). Additive: a garret table keyed
-- by cache, so atticd's tables are untouched and atticd still runs on the database. A cache without
-- a row uses the server's `[garret.upstream]` default; a row holding `[]` turns pull-through off.
-- `upstreams` is JSON text (`[{"url":…,"trusted_keys":[…]}]`), as atticd stores its string arrays.
CREATE TABLE IF NOT EXISTS garret_cache_upstream (
    cache_id bigint PRIMARY KEY,
    upstreams text NOT NULL,
    CONSTRAINT "garret-fk-cache-upstream-cache" FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE
);
