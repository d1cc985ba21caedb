/**
 * What one garretd process keeps in memory about the store, in one place that `deps` owns: the cache
 * directory, the narinfo memo, narinfo signatures, chunks recently seen in storage, and the
 * revocation list. Nothing else in the server keeps state between requests.
 *
 * Writers say what they changed once it is committed (`objectsChanged`, `cacheChanged`), so this
 * process always reads its own writes; the change feed (change-feed.ts) says what other processes
 * changed. Requests that change nothing forget nothing.
 */
import type { Db } from "@garret/db";
import type { Logger } from "../log.ts";
import { type CacheDirectory, createCacheDirectory } from "./cache-directory.ts";
import { createObjectMemo, type ObjectMemo } from "./object-memo.ts";
import { createRevocationList, type RevocationList } from "./revocations.ts";

/** Ed25519 is deterministic: a (key, fingerprint) pair always gives the same signature. */
export interface SignatureMemo {
  sign(keypair: string, fingerprint: string, compute: () => string): string;
}

/** Chunk ids whose files were seen in storage recently (so a download need not check them again). */
export interface PresentChunks {
  seen(chunkId: number, now: number): boolean;
  note(chunkId: number, now: number): void;
  /** The chunk's file turned out damaged: check it again next time. */
  forget(chunkId: number): void;
}

export interface ProcessState {
  readonly caches: CacheDirectory;
  readonly objects: ObjectMemo;
  readonly signatures: SignatureMemo;
  readonly presentChunks: PresentChunks;
  readonly revocations: RevocationList;
  /** This process committed a change to objects or NARs (upload, narinfo, deletion, GC). */
  objectsChanged(): void;
  /** This process committed a change to a cache's row (create, configure, destroy). */
  cacheChanged(name: string): void;
  close(): void;
}

export interface ProcessStateOptions {
  /** How long cache rows are kept while the change feed is down; 0 = read every time. */
  cacheTtlMs?: number;
  revocationRefreshMs?: number;
}

const SIGNATURE_MEMO_LIMIT = 100_000;
const PRESENT_CHUNKS_LIMIT = 1_000_000;
const PRESENT_CHUNK_TTL_MS = 5 * 60_000;

export function createProcessState(db: Db, log: Logger, opts: ProcessStateOptions = {}): ProcessState {
  const caches = createCacheDirectory(db, opts.cacheTtlMs ?? 1000);
  const objects = createObjectMemo();
  const revocations = createRevocationList(db, log, { intervalMs: opts.revocationRefreshMs });
  const signatures = new Map<string, string>();
  const present = new Map<number, number>();
  return {
    caches,
    objects,
    revocations,
    signatures: {
      sign(keypair, fingerprint, compute) {
        const key = `${keypair}\n${fingerprint}`;
        let sig = signatures.get(key);
        if (sig === undefined) {
          sig = compute();
          if (signatures.size >= SIGNATURE_MEMO_LIMIT) signatures.clear();
          signatures.set(key, sig);
        }
        return sig;
      },
    },
    presentChunks: {
      seen: (chunkId, now) => (present.get(chunkId) ?? 0) >= now,
      note(chunkId, now) {
        if (present.size >= PRESENT_CHUNKS_LIMIT) present.clear();
        present.set(chunkId, now + PRESENT_CHUNK_TTL_MS);
      },
      forget: (chunkId) => present.delete(chunkId),
    },
    objectsChanged() {
      objects.forget();
    },
    cacheChanged(name) {
      caches.invalidate(name);
      // A new key, visibility or a destroyed cache: texts and rows kept for it must go too.
      objects.forget();
    },
    close() {
      revocations.close();
    },
  };
}
