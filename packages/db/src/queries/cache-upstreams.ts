/**
 * Per-cache upstream binary caches for pull-through (`garret_cache_upstream`, migration 0013). A
 * cache without a row uses the server's default; a row with an empty list has pull-through off.
 */
import { sql } from "drizzle-orm";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface CacheUpstream {
  url: string;
  trustedKeys: string[];
}

/** The cache's own upstreams, or null when it has none of its own (the server default applies). */
export async function getCacheUpstreams(db: Executor, cacheId: number): Promise<CacheUpstream[] | null> {
  const result = await ormOf(db).execute(
    sql`SELECT upstreams FROM garret_cache_upstream WHERE cache_id = ${cacheId}`,
  );
  const row = rowsOf<{ upstreams: string }>(result)[0];
  return row ? parseUpstreams(row.upstreams) : null;
}

/** Sets the cache's own upstreams; null removes them, so the server default applies again. */
export async function setCacheUpstreams(
  db: Executor,
  cacheId: number,
  upstreams: CacheUpstream[] | null,
): Promise<void> {
  if (upstreams === null) {
    await ormOf(db).execute(sql`DELETE FROM garret_cache_upstream WHERE cache_id = ${cacheId}`);
    return;
  }
  const text = JSON.stringify(upstreams.map((u) => ({ url: u.url, trusted_keys: u.trustedKeys })));
  await ormOf(db).execute(sql`
    INSERT INTO garret_cache_upstream (cache_id, upstreams) VALUES (${cacheId}, ${text})
    ON CONFLICT (cache_id) DO UPDATE SET upstreams = excluded.upstreams`);
}

function parseUpstreams(text: string): CacheUpstream[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value)) throw new TypeError("garret_cache_upstream.upstreams is not a JSON array");
  return value.map((entry: unknown) => {
    const e = entry as { url?: unknown; trusted_keys?: unknown };
    if (
      typeof e.url !== "string" ||
      !Array.isArray(e.trusted_keys) ||
      !e.trusted_keys.every((k) => typeof k === "string")
    ) {
      throw new TypeError("garret_cache_upstream.upstreams holds a malformed entry");
    }
    return { url: e.url, trustedKeys: e.trusted_keys as string[] };
  });
}
