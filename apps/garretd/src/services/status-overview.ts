/**
 * What the status page at `/` shows a caller: the caches it may discover (public caches for
 * everyone, plus those its token has any permission on), with what a Nix user needs to use each
 * (substituter URL, public key), their sizes, deduplication and compression, and the latest
 * uploads into them. Per-cache statistics walk the cache's objects, so they are memoized for a
 * minute per process and computed a few at a time; at most `MAX_CACHES` caches are listed.
 *
 * Sizes: NAR bytes are what the listed paths occupy uncompressed; unique bytes what their distinct
 * chunks hold (dedup ratio = NAR / unique); stored bytes what those chunks take in storage
 * (compression ratio = unique / stored). The Total row counts a chunk shared by several caches once.
 */
import {
  type CacheStats,
  type Db,
  getCacheStats,
  getStoredBytes,
  listCaches,
  type RecentObject,
  recentObjects,
  type StoredBytes,
} from "@garret/db";
import { parseSecretKey } from "@garret/nix";
import { canDiscover } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import type { RequestState } from "../env.ts";
import { tokenPermission } from "./authorize-cache.ts";
import { substituterEndpoint } from "./caches.ts";

export const STATS_TTL_MS = 60_000;
const STATS_CONCURRENCY = 4;
export const MAX_CACHES = 200;
const RECENT_LIMIT = 10;

export interface Sizes {
  objects: number;
  narBytes: number;
  uniqueBytes: number;
  storedBytes: number;
  /** narBytes / uniqueBytes; null when nothing is stored. */
  dedupRatio: number | null;
  /** uniqueBytes / storedBytes; null when nothing is stored. */
  compressionRatio: number | null;
}

export interface CacheOverview extends Sizes {
  name: string;
  isPublic: boolean;
  substituter: string;
  publicKey: string | null;
}

export interface StatusOverview {
  caches: CacheOverview[];
  /** Caches left out beyond MAX_CACHES. */
  omitted: number;
  totals: Sizes;
  recent: RecentObject[];
  authenticated: boolean;
  /** `exp` of an authentic token that has expired (the caller is anonymous). */
  expiredTokenAt?: number | undefined;
  generatedAt: Date;
}

type CacheFigures = CacheStats & StoredBytes;
const statsMemo = new WeakMap<Db, Map<number, { until: number; value: Promise<CacheFigures> }>>();

function memoizedFigures(db: Db, cacheId: number, now: number): Promise<CacheFigures> {
  let memo = statsMemo.get(db);
  if (!memo) {
    memo = new Map();
    statsMemo.set(db, memo);
  }
  const hit = memo.get(cacheId);
  if (hit && hit.until > now) return hit.value;
  const value = Promise.all([getCacheStats(db, cacheId), getStoredBytes(db, [cacheId])]).then(
    ([stats, stored]) => ({ ...stats, ...stored }),
  );
  const entry = { until: now + STATS_TTL_MS, value };
  memo.set(cacheId, entry);
  value.catch(() => {
    if (memo.get(cacheId) === entry) memo.delete(cacheId);
  });
  return value;
}

const ratio = (a: number, b: number) => (b > 0 && a > 0 ? a / b : null);

function sizes(objects: number, narBytes: number, stored: StoredBytes): Sizes {
  return {
    objects,
    narBytes,
    uniqueBytes: stored.uniqueBytes,
    storedBytes: stored.storedBytes,
    dedupRatio: ratio(narBytes, stored.uniqueBytes),
    compressionRatio: ratio(stored.uniqueBytes, stored.storedBytes),
  };
}

function publicKeyOf(keypair: string | undefined): string | null {
  try {
    return keypair === undefined ? null : parseSecretKey(keypair).publicKey;
  } catch {
    return null;
  }
}

export async function statusOverview(
  deps: Deps,
  caller: { token: AtticToken | null; request: RequestState; expiredTokenAt?: number | undefined },
): Promise<StatusOverview> {
  const { token } = caller;
  const all = await listCaches(deps.db);
  const visible = all.filter((c) => c.isPublic || canDiscover(tokenPermission(token, c.name)));
  const shown = visible.slice(0, MAX_CACHES);
  const now = deps.clock().getTime();
  const figures: CacheFigures[] = new Array(shown.length);
  const keys: (string | null)[] = new Array(shown.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < shown.length; i = next++) {
      const c = shown[i] as (typeof shown)[number];
      figures[i] = await memoizedFigures(deps.db, c.id, now);
      keys[i] = publicKeyOf((await deps.state.caches.get(c.name))?.keypair.expose());
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATS_CONCURRENCY, shown.length) }, worker));
  const caches = shown.map((c, i) => {
    const f = figures[i] as CacheFigures;
    return {
      name: c.name,
      isPublic: c.isPublic,
      substituter: substituterEndpoint(deps, caller.request, c.name),
      publicKey: keys[i] ?? null,
      ...sizes(f.objects, f.narBytes, f),
    };
  });
  const ids = shown.map((c) => c.id);
  const sum = (f: (c: CacheOverview) => number) => caches.reduce((a, c) => a + f(c), 0);
  return {
    caches,
    omitted: visible.length - shown.length,
    totals: sizes(
      sum((c) => c.objects),
      sum((c) => c.narBytes),
      await getStoredBytes(deps.db, ids),
    ),
    recent: await recentObjects(deps.db, ids, RECENT_LIMIT),
    authenticated: token !== null,
    ...(caller.expiredTokenAt !== undefined && { expiredTokenAt: caller.expiredTokenAt }),
    generatedAt: new Date(now),
  };
}
