/**
 * `garret_pending_upload` (migration 0003): NARs received from plain `nix copy --to` that wait for
 * their narinfo. Each row points at a complete, verified NAR kept in state `P`; the narinfo PUT
 * claims the row (deletes it) in the transaction that makes the NAR visible. GC reaps old `P` NARs,
 * and the foreign key cascades to the row.
 *
 * Sample row:
 *   (7, 1, 42, 'sha256:6c5e…', 1180, 'sha256:baea…', 144, 'xz', 'alice', '2026-01-01 00:00:00+00')
 *
 * The table is garret's own and not part of `schema.ts` (atticd's tables), so these queries are
 * plain SQL.
 */
import { sql } from "drizzle-orm";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface NewPendingUpload {
  cacheId: number;
  narId: number;
  /** `sha256:<hex>` of the bytes as received. */
  fileHash: string;
  fileSize: number;
  /** `sha256:<hex>` of the decompressed NAR. */
  narHash: string;
  narSize: number;
  compressionReceived: string;
  createdBy: string | null;
}

export interface PendingUploadRow extends NewPendingUpload {
  id: number;
  createdAt: Date;
}

/** A pending upload with the chunk count of its NAR, which validating the NAR needs. */
export interface PendingUpload extends PendingUploadRow {
  numChunks: number;
}

interface RawPendingUpload {
  id: number | string;
  cache_id: number | string;
  nar_id: number | string;
  file_hash: string;
  file_size: number | string;
  nar_hash: string;
  nar_size: number | string;
  compression_received: string;
  created_by: string | null;
  created_at: Date | string;
  num_chunks?: number | string;
}

function fromRaw(r: RawPendingUpload): PendingUploadRow {
  return {
    id: Number(r.id),
    cacheId: Number(r.cache_id),
    narId: Number(r.nar_id),
    fileHash: r.file_hash,
    fileSize: Number(r.file_size),
    narHash: r.nar_hash,
    narSize: Number(r.nar_size),
    compressionReceived: r.compression_received,
    createdBy: r.created_by,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  };
}

export async function insertPendingUpload(db: Executor, input: NewPendingUpload): Promise<PendingUploadRow> {
  const result = await ormOf(db).execute(sql`
    INSERT INTO garret_pending_upload
      (cache_id, nar_id, file_hash, file_size, nar_hash, nar_size, compression_received, created_by, created_at)
    VALUES (${input.cacheId}, ${input.narId}, ${input.fileHash}, ${input.fileSize}, ${input.narHash},
            ${input.narSize}, ${input.compressionReceived}, ${input.createdBy}, now())
    RETURNING *`);
  const row = rowsOf<RawPendingUpload>(result)[0];
  if (!row) throw new Error("insertPendingUpload returned no row");
  return fromRaw(row);
}

/** The newest upload with this file hash in this cache whose NAR is still pending, or null. */
export async function findPendingUpload(
  db: Executor,
  cacheId: number,
  fileHash: string,
): Promise<PendingUpload | null> {
  const result = await ormOf(db).execute(sql`
    SELECT p.*, n.num_chunks FROM garret_pending_upload p
    JOIN nar n ON n.id = p.nar_id AND n.state = 'P'
    WHERE p.cache_id = ${cacheId} AND p.file_hash = ${fileHash}
    ORDER BY p.id DESC
    LIMIT 1`);
  const row = rowsOf<RawPendingUpload>(result)[0];
  return row ? { ...fromRaw(row), numChunks: Number(row.num_chunks) } : null;
}

/**
 * Takes the row for the caller's transaction: true if this call deleted it, false if a concurrent
 * narinfo PUT (or GC) got there first.
 */
export async function claimPendingUpload(db: Executor, id: number): Promise<boolean> {
  const result = await ormOf(db).execute(
    sql`DELETE FROM garret_pending_upload WHERE id = ${id} RETURNING id`,
  );
  return rowsOf(result).length > 0;
}

/** Whether some object of this cache already points at a valid NAR with this hash (`sha256:<hex>`). */
export async function cacheHasNarHash(db: Executor, cacheId: number, narHash: string): Promise<boolean> {
  const result = await ormOf(db).execute(sql`
    SELECT 1 AS one FROM object o
    JOIN nar n ON n.id = o.nar_id AND n.state = 'V'
    WHERE o.cache_id = ${cacheId} AND n.nar_hash = ${narHash}
    LIMIT 1`);
  return rowsOf(result).length > 0;
}
