/**
 * Per-cache statistics (`GET /_api/v1/caches/{cache}/stats`): what the cache lists and what its
 * data occupies in storage after chunk dedup and compression, plus the last finished GC run.
 * The counts walk the cache's objects (index `idx-object-cache-hash`), so they cost in proportion to
 * the cache, not to the database; they are meant for occasional inspection, not for polling.
 */
import { sql } from "drizzle-orm";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface CacheStats {
  objects: number;
  /** Sum of the uncompressed NAR sizes of the cache's objects. */
  narBytes: number;
  /** Distinct chunks the cache's NARs use. */
  chunks: number;
  /** Bytes those chunks occupy in storage (compressed, each shared chunk once). */
  storedBytes: number;
  pins: number;
}

export interface LastGcRun {
  startedAt: Date;
  finishedAt: Date;
  objects: number;
  nars: number;
  chunks: number;
  bytes: number;
}

export async function getCacheStats(db: Executor, cacheId: number): Promise<CacheStats> {
  const result = await ormOf(db).execute(sql`
    SELECT
      (SELECT count(*) FROM object o WHERE o.cache_id = ${cacheId}) AS objects,
      (SELECT COALESCE(sum(n.nar_size), 0) FROM object o JOIN nar n ON n.id = o.nar_id
        WHERE o.cache_id = ${cacheId}) AS nar_bytes,
      s.chunks, s.stored_bytes,
      (SELECT count(*) FROM garret_pin p WHERE p.cache_id = ${cacheId}) AS pins
    FROM (SELECT count(*) AS chunks, COALESCE(sum(c.file_size), 0) AS stored_bytes
          FROM chunk c
          WHERE c.id IN (SELECT r.chunk_id FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
                         WHERE o.cache_id = ${cacheId})) s`);
  const row = rowsOf<Record<string, number | string>>(result)[0] ?? {};
  return {
    objects: Number(row.objects ?? 0),
    narBytes: Number(row.nar_bytes ?? 0),
    chunks: Number(row.chunks ?? 0),
    storedBytes: Number(row.stored_bytes ?? 0),
    pins: Number(row.pins ?? 0),
  };
}

export async function getLastGcRun(db: Executor): Promise<LastGcRun | null> {
  const result = await ormOf(db).execute(
    sql`SELECT started_at, finished_at, objects, nars, chunks, bytes FROM garret_gc_run ORDER BY id DESC LIMIT 1`,
  );
  const row = rowsOf<Record<string, string | number | Date>>(result)[0];
  if (!row) return null;
  return {
    startedAt: new Date(row.started_at as string),
    finishedAt: new Date(row.finished_at as string),
    objects: Number(row.objects),
    nars: Number(row.nars),
    chunks: Number(row.chunks),
    bytes: Number(row.bytes),
  };
}
