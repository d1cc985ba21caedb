/**
 * What the status page at `/` shows a caller: the caches it may discover (public caches for
 * everyone, plus those its token has any permission on), their sizes and dedup ratio, and the
 * latest uploads into them. Per-cache statistics walk the cache's objects, so they are memoized for
 * a minute per process and computed a few at a time; at most `MAX_CACHES` caches are listed.
 */
import {
  type CacheStats,
  type Db,
  getCacheStats,
  listCaches,
  type RecentObject,
  recentObjects,
} from "@garret/db";
import { canDiscover } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { tokenPermission } from "./authorize-cache.ts";

const STATS_TTL_MS = 60_000;
const STATS_CONCURRENCY = 4;
export const MAX_CACHES = 200;
const RECENT_LIMIT = 10;

export interface CacheOverview {
  name: string;
  isPublic: boolean;
  objects: number;
  narBytes: number;
  storedBytes: number;
  /** narBytes / storedBytes; null when nothing is stored. */
  dedupRatio: number | null;
}

export interface StatusOverview {
  caches: CacheOverview[];
  /** Caches left out beyond MAX_CACHES. */
  omitted: number;
  totals: { objects: number; narBytes: number; storedBytes: number; dedupRatio: number | null };
  recent: RecentObject[];
  authenticated: boolean;
  generatedAt: Date;
}

const statsMemo = new WeakMap<Db, Map<number, { until: number; value: Promise<CacheStats> }>>();

function memoizedStats(db: Db, cacheId: number, now: number): Promise<CacheStats> {
  let memo = statsMemo.get(db);
  if (!memo) {
    memo = new Map();
    statsMemo.set(db, memo);
  }
  const hit = memo.get(cacheId);
  if (hit && hit.until > now) return hit.value;
  const value = getCacheStats(db, cacheId);
  const entry = { until: now + STATS_TTL_MS, value };
  memo.set(cacheId, entry);
  value.catch(() => {
    if (memo.get(cacheId) === entry) memo.delete(cacheId);
  });
  return value;
}

const ratio = (nar: number, stored: number) => (stored > 0 ? nar / stored : null);

export async function statusOverview(deps: Deps, token: AtticToken | null): Promise<StatusOverview> {
  const all = await listCaches(deps.db);
  const visible = all.filter((c) => c.isPublic || canDiscover(tokenPermission(token, c.name)));
  const shown = visible.slice(0, MAX_CACHES);
  const now = deps.clock().getTime();
  const stats: CacheStats[] = new Array(shown.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < shown.length; i = next++) {
      stats[i] = await memoizedStats(deps.db, (shown[i] as (typeof shown)[number]).id, now);
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATS_CONCURRENCY, shown.length) }, worker));
  const caches = shown.map((c, i) => {
    const s = stats[i] as CacheStats;
    return {
      name: c.name,
      isPublic: c.isPublic,
      objects: s.objects,
      narBytes: s.narBytes,
      storedBytes: s.storedBytes,
      dedupRatio: ratio(s.narBytes, s.storedBytes),
    };
  });
  const sum = (f: (c: CacheOverview) => number) => caches.reduce((a, c) => a + f(c), 0);
  const narBytes = sum((c) => c.narBytes);
  const storedBytes = sum((c) => c.storedBytes);
  return {
    caches,
    omitted: visible.length - shown.length,
    // Stored bytes are per cache; chunks shared between caches count once in each of them.
    totals: {
      objects: sum((c) => c.objects),
      narBytes,
      storedBytes,
      dedupRatio: ratio(narBytes, storedBytes),
    },
    recent: await recentObjects(
      deps.db,
      shown.map((c) => c.id),
      RECENT_LIMIT,
    ),
    authenticated: token !== null,
    generatedAt: new Date(now),
  };
}
