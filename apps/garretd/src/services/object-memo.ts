/**
 * A short-lived per-process memo of the (object, valid NAR) rows narinfo lookups read, keyed by
 * (cache id, store path hash). Nix asks for the same narinfos over and over (every substituter
 * query of a closure, every client of a CI fleet), and the database round trip is most of a
 * lookup's cost.
 *
 * Staleness bound: an entry is used for at most `MEMO_TTL_MS` after it was read. Writes made by
 * this process (uploads, path deletion, garbage collection) clear the memo at once, so a process
 * always reads its own writes; a write made by another replica (or by garretadm) becomes visible
 * here within `MEMO_TTL_MS`. That is the same kind of race a client already has between fetching a
 * narinfo and its NAR, widened by at most one second. Only hits are memoised: a path uploaded
 * anywhere is never reported missing because of the memo.
 *
 * Authorization is not memoised: every lookup still resolves the cache and checks the token, and
 * the signature is computed from the cache's current key, so key rotation and visibility changes
 * apply immediately.
 */
import type { ObjectWithNar } from "@garret/db";

export const MEMO_TTL_MS = 1000;
const MEMO_LIMIT = 50_000;

interface Entry {
  value: ObjectWithNar;
  expires: number;
}

let entries = new Map<string, Entry>();
/** Bumped by every forget, so a read that raced a write of this process is not memoised. */
let generation = 0;

function keyOf(cacheId: number, storePathHash: string): string {
  return `${cacheId}/${storePathHash}`;
}

export function recallObject(cacheId: number, storePathHash: string, now: number): ObjectWithNar | undefined {
  const key = keyOf(cacheId, storePathHash);
  const entry = entries.get(key);
  if (entry === undefined) return undefined;
  if (entry.expires > now) return entry.value;
  entries.delete(key);
  return undefined;
}

/** Take before reading the database; pass to rememberObject with what was read. */
export function memoGeneration(): number {
  return generation;
}

export function rememberObject(
  cacheId: number,
  storePathHash: string,
  value: ObjectWithNar,
  now: number,
  readGeneration: number,
): void {
  if (readGeneration !== generation) return;
  // Dropping everything at the limit keeps the cost O(1) per call; the memo refills within a second.
  if (entries.size >= MEMO_LIMIT) entries = new Map();
  entries.set(keyOf(cacheId, storePathHash), { value, expires: now + MEMO_TTL_MS });
}

/** Called after every object write of this process: the next lookup reads the database. */
export function forgetObjects(): void {
  generation++;
  if (entries.size > 0) entries = new Map();
}
