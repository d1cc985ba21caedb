-- 0014 (SQLite): push sessions of the chunk-upload API, as the Postgres 0014 (times as atticd-style text).
CREATE TABLE IF NOT EXISTS garret_chunk_session (
    id integer PRIMARY KEY AUTOINCREMENT,
    cache_id bigint NOT NULL REFERENCES cache (id) ON DELETE CASCADE,
    created_by varchar NOT NULL,
    nar_hash varchar NOT NULL,
    created_at timestamp_with_timezone_text NOT NULL,
    touched_at timestamp_with_timezone_text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "garret-idx-chunk-session-key" ON garret_chunk_session (cache_id, created_by, nar_hash);
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-session-touched-at" ON garret_chunk_session (touched_at);

CREATE TABLE IF NOT EXISTS garret_chunk_session_chunk (
    session_id bigint NOT NULL REFERENCES garret_chunk_session (id) ON DELETE CASCADE,
    chunk_hash varchar NOT NULL,
    chunk_id bigint NOT NULL REFERENCES chunk (id) ON DELETE CASCADE,
    PRIMARY KEY (session_id, chunk_hash)
);
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-session-chunk-chunk-id" ON garret_chunk_session_chunk (chunk_id);
