/**
 * Cache rows (attic `server/src/database/mod.rs`: `find_cache`, and the cache-config handlers).
 * A soft-deleted cache (deleted_at set) is invisible to lookups but keeps its name taken.
 */
import { and, eq, isNotNull, isNull, sql } from "drizzle-orm";
import { type CacheRow, cache } from "../schema.ts";
import { type Executor, ormOf } from "./executor.ts";

export interface NewCache {
  name: string;
  /** Secret key `"<name>:" + base64(64 bytes)`. */
  keypair: string;
  isPublic: boolean;
  storeDir: string;
  priority: number;
  upstreamCacheKeyNames: string[];
  /** Seconds; null/omitted = server default. */
  retentionPeriod?: number | null;
}

export type CachePatch = Partial<
  Pick<
    CacheRow,
    "keypair" | "isPublic" | "storeDir" | "priority" | "upstreamCacheKeyNames" | "retentionPeriod"
  >
>;

export async function findCache(db: Executor, name: string): Promise<CacheRow | null> {
  const rows = await ormOf(db)
    .select()
    .from(cache)
    .where(and(eq(cache.name, name), isNull(cache.deletedAt)))
    .limit(1);
  return rows[0] ?? null;
}

/** The soft-deleted cache with this name, if there is one (its name stays taken). */
export async function findSoftDeletedCache(db: Executor, name: string): Promise<CacheRow | null> {
  const rows = await ormOf(db)
    .select()
    .from(cache)
    .where(and(eq(cache.name, name), isNotNull(cache.deletedAt)))
    .limit(1);
  return rows[0] ?? null;
}

/** Returns false when the name is taken, including by a soft-deleted cache. */
export async function insertCache(db: Executor, row: NewCache): Promise<boolean> {
  const inserted = await ormOf(db)
    .insert(cache)
    .values({
      name: row.name,
      keypair: row.keypair,
      isPublic: row.isPublic,
      storeDir: row.storeDir,
      priority: row.priority,
      upstreamCacheKeyNames: row.upstreamCacheKeyNames,
      retentionPeriod: row.retentionPeriod ?? null,
      createdAt: sql`now()`,
    })
    .onConflictDoNothing({ target: cache.name })
    .returning({ id: cache.id });
  return inserted.length > 0;
}

/** Applies `patch` to a live cache; false if there is none with that id. An empty patch is a bug. */
export async function updateCache(db: Executor, id: number, patch: CachePatch): Promise<boolean> {
  const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as CachePatch;
  if (Object.keys(set).length === 0) throw new TypeError("updateCache: nothing to update");
  const updated = await ormOf(db)
    .update(cache)
    .set(set)
    .where(and(eq(cache.id, id), isNull(cache.deletedAt)))
    .returning({ id: cache.id });
  return updated.length > 0;
}

/**
 * Soft delete sets deleted_at; hard delete removes the row and, by cascade, its objects (their NARs
 * and chunks become orphans for GC). Only live caches are affected; false if none matched.
 */
export async function deleteCache(db: Executor, id: number, soft: boolean): Promise<boolean> {
  const orm = ormOf(db);
  const where = and(eq(cache.id, id), isNull(cache.deletedAt));
  const rows = soft
    ? await orm.update(cache).set({ deletedAt: sql`now()` }).where(where).returning({ id: cache.id })
    : await orm.delete(cache).where(where).returning({ id: cache.id });
  return rows.length > 0;
}
