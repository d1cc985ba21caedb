/**
 * Cache rows by name, kept for a short time in memory. Every binary-cache request needs its cache
 * (for the public flag, the signing key and the store dir); reading it once per request would be the
 * second query on the narinfo hot path. Changes made through this process invalidate at once;
 * another replica's changes show up within `ttlMs`.
 */
import { type CacheRow, type Db, findCache } from "@garret/db";

export interface CacheDirectory {
  get(name: string): Promise<CacheRow | null>;
  invalidate(name: string): void;
}

export function createCacheDirectory(db: Db, ttlMs = 1000, now: () => number = Date.now): CacheDirectory {
  const entries = new Map<string, { row: CacheRow | null; until: number }>();
  const inflight = new Map<string, Promise<CacheRow | null>>();
  return {
    async get(name) {
      if (ttlMs > 0) {
        const hit = entries.get(name);
        if (hit && hit.until > now()) return hit.row;
      }
      const pending = inflight.get(name);
      if (pending) return pending;
      const lookup = findCache(db, name).then(
        (row) => {
          inflight.delete(name);
          if (ttlMs > 0) {
            if (entries.size > 10_000) entries.clear();
            entries.set(name, { row, until: now() + ttlMs });
          }
          return row;
        },
        (err: unknown) => {
          inflight.delete(name);
          throw err;
        },
      );
      inflight.set(name, lookup);
      return lookup;
    },
    invalidate(name) {
      entries.delete(name);
    },
  };
}
