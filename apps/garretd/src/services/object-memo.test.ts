/**
 * The narinfo row memo: entries live FALLBACK_TTL_MS (LIVE_TTL_MS while the change feed is live), a
 * forget drops them, reads that raced a forget are not kept, and the feed dropping forgets everything.
 */
import type { ObjectWithNar } from "@garret/db";
import { describe, expect, it } from "vitest";
import {
  createObjectMemo,
  FALLBACK_TTL_MS,
  MEMO_CHUNK_BUDGET,
  MEMO_CHUNK_LIST_LIMIT,
} from "./object-memo.ts";

/** `n` chunk rows of a NAR (contents irrelevant to the memo). */
function chunks(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    remoteFile: "{}",
    remoteFileId: `local:${i}`,
    fileSize: 1,
  }));
}

function row(id: number, storePathHash = "h"): ObjectWithNar {
  const at = new Date(0);
  return {
    object: {
      id,
      cacheId: 1,
      narId: id,
      storePathHash,
      storePath: "/nix/store/h-x",
      references: [],
      system: null,
      deriver: null,
      sigs: [],
      ca: null,
      createdAt: at,
      lastAccessedAt: null,
      createdBy: null,
    },
    nar: {
      id,
      state: "V",
      narHash: "sha256:00",
      narSize: 1,
      compression: "zstd",
      holdersCount: 0,
      createdAt: at,
      numChunks: 1,
      leasedAt: null,
    },
  };
}

describe("object memo", () => {
  it("returns an entry until FALLBACK_TTL_MS after it was read, per cache and hash", () => {
    const memo = createObjectMemo();
    memo.remember(1, "aaa", row(1), 1000, memo.generation());
    expect(memo.recall(1, "aaa", 1000 + FALLBACK_TTL_MS - 1)?.value.object.id).toBe(1);
    expect(memo.recall(2, "aaa", 1000)).toBeUndefined();
    expect(memo.recall(1, "bbb", 1000)).toBeUndefined();
    expect(memo.recall(1, "aaa", 1000 + FALLBACK_TTL_MS)).toBeUndefined();
    expect(memo.recall(1, "aaa", 1000)).toBeUndefined();
  });

  it("keeps entries for the live TTL while the change feed is live, and forgets all when it drops", () => {
    const memo = createObjectMemo(60_000);
    memo.setLive(true);
    memo.remember(1, "aaa", row(1), 0, memo.generation());
    expect(memo.recall(1, "aaa", 59_999)?.value.object.id).toBe(1);
    expect(memo.recall(1, "aaa", 60_000)).toBeUndefined();
    memo.remember(1, "aaa", row(1), 0, memo.generation());
    memo.setLive(false);
    expect(memo.recall(1, "aaa", 1)).toBeUndefined();
    memo.remember(1, "aaa", row(1), 0, memo.generation());
    expect(memo.recall(1, "aaa", FALLBACK_TTL_MS)).toBeUndefined();
  });

  it("forgets everything on a write", () => {
    const memo = createObjectMemo();
    memo.remember(1, "aaa", row(1), 0, memo.generation());
    memo.forget();
    expect(memo.recall(1, "aaa", 1)).toBeUndefined();
  });

  it("does not keep a read that started before a write finished", () => {
    const memo = createObjectMemo();
    const before = memo.generation();
    memo.forget();
    memo.remember(1, "aaa", row(1), 0, before);
    expect(memo.recall(1, "aaa", 1)).toBeUndefined();
    memo.remember(1, "aaa", row(2), 0, memo.generation());
    expect(memo.recall(1, "aaa", 1)?.value.object.id).toBe(2);
  });

  it("keeps memos apart: two instances share nothing", () => {
    const a = createObjectMemo();
    const b = createObjectMemo();
    a.remember(1, "aaa", row(1), 0, a.generation());
    expect(b.recall(1, "aaa", 1)).toBeUndefined();
  });

  it("keeps the chunk list of a NAR of tens of MiB (a closure's largest paths)", () => {
    const memo = createObjectMemo();
    const entry = memo.remember(1, "big", row(1, "big"), 0, memo.generation());
    // ~50 MiB at atticd's 64 KiB average chunk.
    memo.keepChunks(entry, chunks(800));
    expect(entry.chunks).toHaveLength(800);
  });

  it("keeps chunk lists only up to MEMO_CHUNK_LIST_LIMIT each and MEMO_CHUNK_BUDGET in all", () => {
    const memo = createObjectMemo();
    const long = memo.remember(1, "long", row(1, "long"), 0, memo.generation());
    memo.keepChunks(long, chunks(MEMO_CHUNK_LIST_LIMIT + 1));
    expect(long.chunks).toBeUndefined();

    const perEntry = MEMO_CHUNK_LIST_LIMIT;
    const fit = Math.floor(MEMO_CHUNK_BUDGET / perEntry);
    const kept = Array.from({ length: fit + 1 }, (_, i) => {
      const entry = memo.remember(1, `h${i}`, row(i, `h${i}`), 0, memo.generation());
      memo.keepChunks(entry, chunks(perEntry));
      return entry;
    });
    expect(kept.filter((e) => e.chunks !== undefined)).toHaveLength(fit);
    expect(kept[fit]?.chunks).toBeUndefined();

    // A forget empties the memo and its budget.
    memo.forget();
    const again = memo.remember(1, "again", row(1, "again"), 0, memo.generation());
    memo.keepChunks(again, chunks(perEntry));
    expect(again.chunks).toHaveLength(perEntry);
  });
});
