/** The narinfo row memo: entries live MEMO_TTL_MS, a forget drops them, and reads that raced a forget are not kept. */
import type { ObjectWithNar } from "@garret/db";
import { describe, expect, it } from "vitest";
import { forgetObjects, MEMO_TTL_MS, memoGeneration, recallObject, rememberObject } from "./object-memo.ts";

function row(id: number): ObjectWithNar {
  const at = new Date(0);
  return {
    object: {
      id,
      cacheId: 1,
      narId: id,
      storePathHash: "h",
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
  it("returns an entry until MEMO_TTL_MS after it was read, per cache and hash", () => {
    forgetObjects();
    rememberObject(1, "aaa", row(1), 1000, memoGeneration());
    expect(recallObject(1, "aaa", 1000 + MEMO_TTL_MS - 1)?.object.id).toBe(1);
    expect(recallObject(2, "aaa", 1000)).toBeUndefined();
    expect(recallObject(1, "bbb", 1000)).toBeUndefined();
    expect(recallObject(1, "aaa", 1000 + MEMO_TTL_MS)).toBeUndefined();
    expect(recallObject(1, "aaa", 1000)).toBeUndefined();
  });

  it("forgets everything on a write of this process", () => {
    rememberObject(1, "aaa", row(1), 0, memoGeneration());
    forgetObjects();
    expect(recallObject(1, "aaa", 1)).toBeUndefined();
  });

  it("does not keep a read that started before a write finished", () => {
    const before = memoGeneration();
    forgetObjects();
    rememberObject(1, "aaa", row(1), 0, before);
    expect(recallObject(1, "aaa", 1)).toBeUndefined();
    rememberObject(1, "aaa", row(2), 0, memoGeneration());
    expect(recallObject(1, "aaa", 1)?.object.id).toBe(2);
  });
});
