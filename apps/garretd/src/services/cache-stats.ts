/**
 * `GET /_api/v1/caches/{cache}/stats` (garret extension, needs `r`): object count, NAR bytes,
 * stored bytes after dedup and compression, pins, the closure-retention flag and the last GC run.
 */
import { getCacheSettings, getCacheStats, getLastGcRun } from "@garret/db";
import type { CacheStats } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { authorizeCache } from "./authorize-cache.ts";

export async function cacheStats(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
): Promise<CacheStats> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["r"]);
  const [stats, settings, last] = await Promise.all([
    getCacheStats(deps.db, cache.id),
    getCacheSettings(deps.db, cache.id),
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
