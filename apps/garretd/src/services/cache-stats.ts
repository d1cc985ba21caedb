/**
 * `GET /_api/v1/caches/{cache}/stats` (garret extension, needs `r`): object count, NAR bytes,
 * stored bytes after dedup and compression, pins, the closure-retention flag and the last GC run.
 *
 * The figures walk the cache's objects and chunk references. A caller whose token grants `r` on
 * the cache gets them fresh (`garret cache info` after a push); anyone reading a public cache
 * without such a grant gets them memoized per process for the status page's minute, so anonymous
 * requests cannot make garretd scan a large cache over and over.
 */
import { getCacheSettings, getCacheStats, getLastGcRun } from "@garret/db";
import type { CacheStats } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { authorizeCache, tokenPermission } from "./authorize-cache.ts";
import { STATS_TTL_MS } from "./status-overview.ts";

const memo = new WeakMap<Deps["db"], Map<number, { until: number; value: Promise<CacheStats> }>>();

function memoized(deps: Deps, cacheId: number): Promise<CacheStats> {
  let perDb = memo.get(deps.db);
  if (!perDb) {
    perDb = new Map();
    memo.set(deps.db, perDb);
  }
  const now = deps.clock().getTime();
  const hit = perDb.get(cacheId);
  if (hit && hit.until > now) return hit.value;
  const entry = { until: now + STATS_TTL_MS, value: computeStats(deps, cacheId) };
  perDb.set(cacheId, entry);
  entry.value.catch(() => {
    if (perDb.get(cacheId) === entry) perDb.delete(cacheId);
  });
  return entry.value;
}

export async function cacheStats(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
): Promise<CacheStats> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["r"]);
  if (!tokenPermission(token, cacheName).r) return memoized(deps, cache.id);
  return computeStats(deps, cache.id);
}

async function computeStats(deps: Deps, cacheId: number): Promise<CacheStats> {
  const [stats, settings, last] = await Promise.all([
    getCacheStats(deps.db, cacheId),
    getCacheSettings(deps.db, cacheId),
    getLastGcRun(deps.db),
  ]);
  return {
    objects: stats.objects,
    nar_bytes: stats.narBytes,
    chunks: stats.chunks,
    stored_bytes: stats.storedBytes,
    pins: stats.pins,
    closure_retention: settings.closureRetention,
    last_gc: last && {
      started_at: last.startedAt.toISOString(),
      finished_at: last.finishedAt.toISOString(),
      objects: last.objects,
      nars: last.nars,
      chunks: last.chunks,
      bytes: last.bytes,
    },
  };
}
