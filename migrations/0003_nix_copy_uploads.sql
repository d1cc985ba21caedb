-- 0003: NARs received from plain `nix copy --to` (issue 4). Nix PUTs a NAR before its narinfo, so a
-- NAR that has been received, verified and chunked waits here, keyed by the file hash in its URL,
-- until the narinfo arrives. Its `nar` row stays `P` meanwhile: invisible to reads and dedup, and
-- reaped by GC after the pending grace period, which cascades to this row. Additive only.
CREATE TABLE IF NOT EXISTS garret_pending_upload (
    id bigserial PRIMARY KEY,
    cache_id bigint NOT NULL,
    nar_id bigint NOT NULL,
    -- `sha256:<hex>` of the bytes as received (compressed), and their size.
    file_hash varchar NOT NULL,
    file_size bigint NOT NULL,
    -- `sha256:<hex>` of the decompressed NAR, and its size.
    nar_hash varchar NOT NULL,
    nar_size bigint NOT NULL,
    -- The compression Nix used on the wire (`xz`, `zstd`, `none`, ...), for diagnostics.
    compression_received varchar NOT NULL,
    created_by varchar,
    created_at timestamptz NOT NULL,
    CONSTRAINT "garret-fk-pending-upload-cache" FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE,
    CONSTRAINT "garret-fk-pending-upload-nar" FOREIGN KEY (nar_id) REFERENCES nar (id) ON DELETE CASCADE
);

-- HEAD nar/<filehash> and the narinfo PUT look uploads up by (cache, file hash).
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-cache-file-hash" ON garret_pending_upload (cache_id, file_hash);
-- Age-based cleanup.
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-created-at" ON garret_pending_upload (created_at);
-- Deleting a NAR (GC phase 2) cascades through this index instead of scanning the table.
CREATE INDEX IF NOT EXISTS "garret-idx-pending-upload-nar-id" ON garret_pending_upload (nar_id);
