/**
 * Cache rows by name, kept for a short time in memory. Every binary-cache request needs its cache
 * (for the public flag, the signing key and the store dir); reading it once per request would be the
 * second query on the narinfo hot path. Changes made through this process invalidate at once;
 * changes made anywhere else arrive through the change feed (change-feed.ts), which clears the
 * directory. While the feed is live rows are kept `liveTtlMs`, otherwise `ttlMs`, the bound on how
 * long another replica's change can go unseen. The signing key is held as a `Secret`, so no log
 * line or inspection of a kept row can print it.
 */
import { type CacheRow, type Db, findCache } from "@garret/db";
import { Secret } from "../config/secret.ts";

/** A cache row as the server holds it: the signing key boxed. */
export type Cache = Omit<CacheRow, "keypair"> & { keypair: Secret<string> };

export function cacheOfRow(row: CacheRow): Cache {
  return { ...row, keypair: new Secret(row.keypair) };
}

export interface CacheDirectory {
  get(name: string): Promise<Cache | null>;
  invalidate(name: string): void;
  /** Forgets every row (a change notification, or the feed going down). */
  clear(): void;
  setLive(live: boolean): void;
}

export function createCacheDirectory(
  db: Db,
  fallbackTtlMs = 1000,
  now: () => number = Date.now,
  liveTtlMs = 10 * 60_000,
): CacheDirectory {
  const entries = new Map<string, { row: Cache | null; until: number }>();
  const inflight = new Map<string, Promise<Cache | null>>();
  let ttlMs = fallbackTtlMs;
  // Bumped by every clear, so a lookup that raced a change is not kept.
  let generation = 0;
  return {
    async get(name) {
      if (ttlMs > 0) {
        const hit = entries.get(name);
        if (hit && hit.until > now()) return hit.row;
      }
      const pending = inflight.get(name);
      if (pending) return pending;
      const started = generation;
      const lookup = findCache(db, name).then(
        (found) => {
          const row = found && cacheOfRow(found);
          inflight.delete(name);
          if (ttlMs > 0 && started === generation) {
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
      generation++;
      entries.delete(name);
    },
    clear() {
      generation++;
      entries.clear();
    },
    setLive(live) {
      if (fallbackTtlMs <= 0) return;
      ttlMs = live ? liveTtlMs : fallbackTtlMs;
      if (!live) this.clear();
    },
  };
}
