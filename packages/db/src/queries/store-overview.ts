/**
 * Read-only overviews for operations: store-wide totals (the `garret_store_*` metrics), the list of
 * live caches (garretadm, the status page) and the latest uploads of a set of caches.
 *
 * `storeTotals` reads every NAR, chunk and object row once; it is meant to run every minute or so,
 * never per request. `recentObjects` walks `garret-idx-object-cache-created-at` backwards per cache.
 */
import { sql } from "drizzle-orm";
import { isSqlite, sqliteRows } from "../dialect.ts";
import { toBoolean } from "../sqlite-values.ts";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface StoreTotals {
  caches: number;
  objects: number;
  /** Uncompressed NAR bytes summed over objects (a NAR in two caches counts twice). */
  objectNarBytes: number;
  nars: number;
  narBytes: number;
  chunks: number;
  /** Compressed bytes of the valid chunks, each once. */
  storedBytes: number;
  lastGcFinishedAt: Date | null;
}

export async function storeTotals(db: Executor): Promise<StoreTotals> {
  const result = await ormOf(db).execute(sql`
    SELECT
      (SELECT count(*) FROM cache WHERE deleted_at IS NULL) AS caches,
      o.objects, o.object_nar_bytes, n.nars, n.nar_bytes, c.chunks, c.stored_bytes,
      (SELECT max(finished_at) FROM garret_gc_run) AS last_gc
    FROM (SELECT count(*) AS objects, COALESCE(sum(n.nar_size), 0) AS object_nar_bytes
          FROM object o JOIN nar n ON n.id = o.nar_id) o,
         (SELECT count(*) AS nars, COALESCE(sum(nar_size), 0) AS nar_bytes
          FROM nar WHERE state = 'V') n,
         (SELECT count(*) AS chunks, COALESCE(sum(file_size), 0) AS stored_bytes
          FROM chunk WHERE state = 'V') c`);
  const row = rowsOf<Record<string, unknown>>(result)[0] ?? {};
  return {
    caches: Number(row.caches ?? 0),
    objects: Number(row.objects ?? 0),
    objectNarBytes: Number(row.object_nar_bytes ?? 0),
    nars: Number(row.nars ?? 0),
    narBytes: Number(row.nar_bytes ?? 0),
    chunks: Number(row.chunks ?? 0),
    storedBytes: Number(row.stored_bytes ?? 0),
    lastGcFinishedAt: row.last_gc == null ? null : new Date(row.last_gc as string),
  };
}

export interface CacheListing {
  id: number;
  name: string;
  isPublic: boolean;
  createdAt: Date;
  retentionPeriod: number | null;
}

/** Live (not soft-deleted) caches by name. */
export async function listCaches(db: Executor): Promise<CacheListing[]> {
  const result = await ormOf(db).execute(sql`
    SELECT id, name, is_public, created_at, retention_period FROM cache
    WHERE deleted_at IS NULL ORDER BY name`);
  return rowsOf<Record<string, unknown>>(result).map((r) => ({
    id: Number(r.id),
    name: String(r.name),
    isPublic: toBoolean(r.is_public),
    createdAt: new Date(r.created_at as string),
    retentionPeriod: r.retention_period == null ? null : Number(r.retention_period),
  }));
}

export interface RecentObject {
  cacheName: string;
  storePath: string;
  narSize: number;
  createdAt: Date;
}

/** The `limit` newest objects over the given caches, newest first. */
export async function recentObjects(
  db: Executor,
  cacheIds: readonly number[],
  limit: number,
): Promise<RecentObject[]> {
  if (cacheIds.length === 0 || limit <= 0) return [];
  if (isSqlite(db)) {
    const rows = await sqliteRows<Record<string, unknown>>(
      db,
      `SELECT c.name AS cache_name, o.store_path, n.nar_size, o.created_at
       FROM object o JOIN nar n ON n.id = o.nar_id JOIN cache c ON c.id = o.cache_id
       WHERE o.cache_id IN (SELECT value FROM json_each(?1))
       ORDER BY o.created_at DESC, o.store_path LIMIT ?2`,
      [cacheIds, limit],
    );
    return rows.map(recentObjectOf);
  }
  const ids = sql.join(
    cacheIds.map((id) => sql`${id}::bigint`),
    sql`, `,
  );
  const result = await ormOf(db).execute(sql`
    SELECT c.name AS cache_name, r.store_path, r.nar_size, r.created_at
    FROM cache c
    CROSS JOIN LATERAL (
      SELECT o.store_path, n.nar_size, o.created_at FROM object o JOIN nar n ON n.id = o.nar_id
      WHERE o.cache_id = c.id ORDER BY o.created_at DESC LIMIT ${limit}
    ) r
    WHERE c.id IN (${ids})
    ORDER BY r.created_at DESC, r.store_path LIMIT ${limit}`);
  return rowsOf<Record<string, unknown>>(result).map(recentObjectOf);
}

function recentObjectOf(r: Record<string, unknown>): RecentObject {
  return {
    cacheName: String(r.cache_name),
    storePath: String(r.store_path),
    narSize: Number(r.nar_size),
    createdAt: new Date(r.created_at as string),
  };
}
