/** What caches occupy in storage, each chunk once (status page), and whether any chunk exists (start-up check). */
import { expect, it } from "vitest";
import { createTestCache, createValidNar, randomStorePathHash } from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { hasAnyChunk, insertChunkRefs } from "./chunks.ts";
import { upsertObject } from "./objects.ts";
import { getStoredBytes } from "./stored-bytes.ts";

describeEachDb("stored bytes", (getDb) => {
  it("counts a chunk shared by NARs and caches once", async () => {
    expect(await hasAnyChunk(getDb())).toBe(false);
    const a = await createTestCache(getDb());
    const b = await createTestCache(getDb());
    // Two chunks of 1000 bytes stored in 500 each; the NAR is in both caches.
    const { nar, chunks } = await createValidNar(getDb(), { chunkCount: 2 });
    await insertChunkRefs(
      getDb(),
      nar.id,
      chunks.map((c, seq) => ({ seq, chunkId: c.id })),
    );
    for (const cache of [a, b]) {
      const hash = randomStorePathHash();
      await upsertObject(getDb(), {
        cacheId: cache.id,
        narId: nar.id,
        storePathHash: hash,
        storePath: `/nix/store/${hash}-shared`,
        references: [],
        deriver: null,
        sigs: [],
        ca: null,
        createdBy: null,
      });
    }
    const one = { chunks: 2, uniqueBytes: 2000, storedBytes: 1000 };
    expect(await getStoredBytes(getDb(), [a.id])).toEqual(one);
    expect(await getStoredBytes(getDb(), [b.id])).toEqual(one);
    expect(await getStoredBytes(getDb(), [a.id, b.id])).toEqual(one);
    expect(await getStoredBytes(getDb(), [])).toEqual({ chunks: 0, uniqueBytes: 0, storedBytes: 0 });
    expect(await hasAnyChunk(getDb())).toBe(true);
  });
});
