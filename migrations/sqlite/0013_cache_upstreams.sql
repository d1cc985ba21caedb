-- 0013 (SQLite): per-cache upstream binary caches for pull-through, as the Postgres 0013. A cache
-- without a row uses the server's `[garret.upstream]` default; `[]` turns pull-through off.
CREATE TABLE IF NOT EXISTS garret_cache_upstream (
    cache_id bigint PRIMARY KEY REFERENCES cache (id) ON DELETE CASCADE,
    upstreams text NOT NULL
);
