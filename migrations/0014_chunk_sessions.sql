-- 0014: push sessions of the chunk-upload API (issue 19, docs/chunk-upload.md). A session belongs
-- to one caller (token subject) pushing one NAR into one cache; it lists the chunks that caller
-- uploaded for it, each holding one lease (`holders_count + 1`) until the NAR is committed or GC
-- finds the session untouched for its pending grace period. Additive only.
CREATE TABLE IF NOT EXISTS garret_chunk_session (
    id bigserial PRIMARY KEY,
    cache_id bigint NOT NULL,
    created_by varchar NOT NULL,
    -- 64 hex digits: the NAR this session pushes.
    nar_hash varchar NOT NULL,
    created_at timestamptz NOT NULL,
    touched_at timestamptz NOT NULL,
    CONSTRAINT "garret-fk-chunk-session-cache" FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX IF NOT EXISTS "garret-idx-chunk-session-key" ON garret_chunk_session (cache_id, created_by, nar_hash);
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-session-touched-at" ON garret_chunk_session (touched_at);

CREATE TABLE IF NOT EXISTS garret_chunk_session_chunk (
    session_id bigint NOT NULL,
    -- `sha256:<hex>` of the uncompressed chunk, as in `chunk.chunk_hash`.
    chunk_hash varchar NOT NULL,
    chunk_id bigint NOT NULL,
    PRIMARY KEY (session_id, chunk_hash),
    CONSTRAINT "garret-fk-chunk-session-chunk-session" FOREIGN KEY (session_id) REFERENCES garret_chunk_session (id) ON DELETE CASCADE,
    CONSTRAINT "garret-fk-chunk-session-chunk-chunk" FOREIGN KEY (chunk_id) REFERENCES chunk (id) ON DELETE CASCADE
);

-- Deleting chunks (GC) cascades through this index instead of scanning the table.
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-session-chunk-chunk-id" ON garret_chunk_session_chunk (chunk_id);
