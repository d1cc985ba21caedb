/**
 * A per-process memo of the (object, valid NAR) rows narinfo lookups read, keyed by (cache id,
 * store path hash), with the narinfo text last built from them and, for NARs of at most
 * `MEMO_CHUNK_LIST_LIMIT` chunks, the NAR's chunk list for downloads. Nix asks for the same narinfos
 * over and over (every substituter query of a closure, every machine of a fleet), and the database
 * round trip is most of a lookup's cost.
 *
 * Staleness bound: writes of this process (uploads, path deletion, garbage collection) forget at
 * once, so a process always reads its own writes. Writes anywhere else reach it through the change
 * feed (change-feed.ts: database triggers and LISTEN), which forgets within milliseconds of their
 * commit. While the feed is live an entry may be kept `liveTtlMs`; while it is not (starting up,
 * connection lost) entries live at most `FALLBACK_TTL_MS`, which bounds staleness as before the
 * feed existed. Only hits are kept: a path uploaded anywhere is never reported missing because of
 * the memo.
 *
 * Authorization is not memoised: every lookup still resolves the cache and checks the token. The
 * text is reused only while the cache's key is the one it was signed with.
 */
import { type Db, findObjectWithNar, type ObjectWithNar, type ServableChunk } from "@garret/db";
import type { Secret } from "../config/secret.ts";

export const FALLBACK_TTL_MS = 1000;
export const LIVE_TTL_MS = 10 * 60_000;
/** Entries kept; each holds rows and a narinfo text of ~1-3 KiB, so at most ~60 MiB. */
const MEMO_LIMIT = 20_000;
/**
 * Longer chunk lists are read per download: they would let a few huge NARs take the memo's chunk
 * budget (a 1 GiB NAR has ~16,000 chunks), and the query is small next to such a transfer. 2048
 * chunks is a NAR of ~128 MiB: the largest paths of a system closure (tens of MiB, ~600-800 chunks,
 * half of the closure corpus's bytes) stay kept, where at 512 each of their downloads read and
 * planned its chunk list again, on SQLite on the main thread (docs/performance.md, round 5).
 */
export const MEMO_CHUNK_LIST_LIMIT = 2048;
/** Chunk references kept across all entries (~150 bytes each): bounds the memo's memory at ~30 MiB. */
export const MEMO_CHUNK_BUDGET = 200_000;

export interface MemoEntry {
  readonly value: ObjectWithNar;
  readonly expires: number;
  /** The narinfo built from `value`, and the signing key it was built with. */
  text?: string;
  keypair?: Secret<string>;
  /** The NAR's chunks, kept (by `keepChunks`) once read if every one was valid and there are few enough. */
  readonly chunks?: ServableChunk[];
}

export interface ObjectMemo {
  recall(cacheId: number, storePathHash: string, now: number): MemoEntry | undefined;
  /** Take before reading the database; pass to remember with what was read. */
  generation(): number;
  remember(
    cacheId: number,
    storePathHash: string,
    value: ObjectWithNar,
    now: number,
    readGeneration: number,
  ): MemoEntry;
  /** The memoised entry, or the rows read from the database (and kept); undefined if there is no such object. */
  load(db: Db, cacheId: number, storePathHash: string): Promise<MemoEntry | undefined>;
  /** Keeps the entry's chunk list if it is short enough and the memo's chunk budget allows. */
  keepChunks(entry: MemoEntry, chunks: ServableChunk[]): void;
  /** Called after every object write this process makes or hears of: the next lookup reads the database. */
  forget(): void;
  /** The change feed says whether it is live: entries kept from now on live `LIVE_TTL_MS` or `FALLBACK_TTL_MS`. */
  setLive(live: boolean): void;
}

export function createObjectMemo(liveTtlMs = LIVE_TTL_MS): ObjectMemo {
  let entries = new Map<string, MemoEntry>();
  let chunksKept = 0;
  const clear = () => {
    entries = new Map();
    chunksKept = 0;
  };
  // Bumped by every forget, so a read that raced a write is not kept.
  let generation = 0;
  let ttlMs = FALLBACK_TTL_MS;
  const keyOf = (cacheId: number, storePathHash: string) => `${cacheId}/${storePathHash}`;
  return {
    recall(cacheId, storePathHash, now) {
      const key = keyOf(cacheId, storePathHash);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expires > now) return entry;
      entries.delete(key);
      chunksKept -= entry.chunks?.length ?? 0;
      return undefined;
    },
    generation: () => generation,
    async load(db, cacheId, storePathHash) {
      const now = performance.now();
      const hit = this.recall(cacheId, storePathHash, now);
      if (hit) return hit;
      const readGeneration = generation;
      const found = await findObjectWithNar(db, cacheId, storePathHash);
      return found ? this.remember(cacheId, storePathHash, found, now, readGeneration) : undefined;
    },
    remember(cacheId, storePathHash, value, now, readGeneration) {
      const entry: MemoEntry = { value, expires: now + ttlMs };
      if (readGeneration !== generation) return entry;
      // Dropping everything at the limit keeps the cost O(1) per call; hot entries come back at once.
      if (entries.size >= MEMO_LIMIT) clear();
      const key = keyOf(cacheId, storePathHash);
      chunksKept -= entries.get(key)?.chunks?.length ?? 0;
      entries.set(key, entry);
      return entry;
    },
    forget() {
      generation++;
      if (entries.size > 0) clear();
    },
    keepChunks(entry, chunks) {
      if (entry.chunks || chunks.length > MEMO_CHUNK_LIST_LIMIT) return;
      if (chunksKept + chunks.length > MEMO_CHUNK_BUDGET) return;
      (entry as { chunks?: ServableChunk[] }).chunks = chunks;
      // Entries that were never kept (a read raced a forget) do not count against the budget.
      if (entries.get(keyOf(entry.value.object.cacheId, entry.value.object.storePathHash)) === entry) {
        chunksKept += chunks.length;
      }
    },
    setLive(live) {
      ttlMs = live ? liveTtlMs : FALLBACK_TTL_MS;
      // Entries kept while live may have missed changes once the feed dropped.
      if (!live) this.forget();
    },
  };
}
