-- 0003 (SQLite): garret_pending_upload, as the Postgres 0003 (times as atticd-style text).
CREATE TABLE IF NOT EXISTS garret_pending_upload (
    id integer PRIMARY KEY AUTOINCREMENT,
    cache_id bigint NOT NULL REFERENCES cache (id) ON DELETE CASCADE,
    nar_id bigint NOT NULL REFERENCES nar (id) ON DELETE CASCADE,
    file_hash varchar NOT NULL,
    file_size bigint NOT NULL,
    nar_hash varchar NOT NULL,
    nar_size bigint NOT NULL,
    compression_received varchar NOT NULL,
    created_by varchar,
    created_at timestamp_with_timezone_text NOT NULL
);
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-cache-file-hash" ON garret_pending_upload (cache_id, file_hash);
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-created-at" ON garret_pending_upload (created_at);
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-nar-id" ON garret_pending_upload (nar_id);
