/**
 * What a set of caches occupies in storage, each chunk counted once however many NARs and caches
 * share it (the status page's per-cache rows and its Total row): the distinct chunks, their
 * uncompressed bytes (what deduplication left) and their stored bytes (after compression).
 */
import { sql } from "drizzle-orm";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface StoredBytes {
  chunks: number;
  /** Uncompressed bytes of the distinct chunks. */
  uniqueBytes: number;
  /** Bytes those chunks take in storage. */
  storedBytes: number;
}

export async function getStoredBytes(db: Executor, cacheIds: readonly number[]): Promise<StoredBytes> {
  if (cacheIds.length === 0) return { chunks: 0, uniqueBytes: 0, storedBytes: 0 };
  const ids = sql.join(
    cacheIds.map((id) => sql`${id}`),
    sql`, `,
  );
  const result = await ormOf(db).execute(sql`
    SELECT count(*) AS chunks, COALESCE(sum(c.chunk_size), 0) AS unique_bytes,
           COALESCE(sum(c.file_size), 0) AS stored_bytes
    FROM chunk c
    WHERE c.id IN (SELECT r.chunk_id FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
                   WHERE o.cache_id IN (${ids}))`);
  const row = rowsOf<Record<string, unknown>>(result)[0] ?? {};
  return {
    chunks: Number(row.chunks ?? 0),
    uniqueBytes: Number(row.unique_bytes ?? 0),
    storedBytes: Number(row.stored_bytes ?? 0),
  };
}
