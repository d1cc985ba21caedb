/** NAR queries on both databases: the find-and-lock lease, its release, validation and deletion. */
import { sql } from "drizzle-orm";
import { expect, it } from "vitest";
import {
  createTestCache,
  createValidNar,
  randomNarHash,
  randomStorePathHash,
} from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { deleteChunk, markChunksDamaged } from "./chunks.ts";
import { deleteNar, findAndLockNar, insertNar, releaseNar, validateNar } from "./nars.ts";
import { findObjectWithNar, upsertObject } from "./objects.ts";

describeEachDb("nar queries", (getDb, kind) => {
  it("leases a valid NAR, one holder per call", async () => {
    const { nar } = await createValidNar(getDb(), { chunkCount: 2 });
    const first = await findAndLockNar(getDb(), nar.narHash);
    expect(first).toMatchObject({ id: nar.id, holdersCount: 1, state: "V", numChunks: 2 });
    expect((await findAndLockNar(getDb(), nar.narHash))?.holdersCount).toBe(2);
    await releaseNar(getDb(), nar.id);
    await releaseNar(getDb(), nar.id);
    await releaseNar(getDb(), nar.id);
    expect((await findAndLockNar(getDb(), nar.narHash))?.holdersCount).toBe(1);
    expect(await findAndLockNar(getDb(), randomNarHash())).toBeNull();
  });

  it("skips pending NARs until they are validated", async () => {
    const narHash = randomNarHash();
    const pending = await insertNar(getDb(), {
      state: "P",
      narHash,
      narSize: 10,
      compression: "zstd",
      numChunks: 0,
    });
    expect(pending).toMatchObject({ state: "P", holdersCount: 0, numChunks: 0, narSize: 10 });
    expect(await findAndLockNar(getDb(), narHash)).toBeNull();
    expect(await validateNar(getDb(), pending.id, 3)).toBe(true);
    expect(await findAndLockNar(getDb(), narHash)).toMatchObject({
      id: pending.id,
      state: "V",
      numChunks: 3,
    });
  });

  it("skips a NAR that lost a chunk", async () => {
    const narHash = randomNarHash();
    const { chunks } = await createValidNar(getDb(), { narHash, chunkCount: 2 });
    await deleteChunk(getDb(), chunks[1]?.id ?? -1);
    expect(await findAndLockNar(getDb(), narHash)).toBeNull();
    const complete = await createValidNar(getDb(), { narHash, chunkCount: 1 });
    expect((await findAndLockNar(getDb(), narHash))?.id).toBe(complete.nar.id);
  });

  it("skips a NAR one of whose chunks was found damaged, and marks only valid chunks", async () => {
    const narHash = randomNarHash();
    const { chunks } = await createValidNar(getDb(), { narHash, chunkCount: 2 });
    expect(await markChunksDamaged(getDb(), [chunks[1]?.id ?? -1])).toBe(1);
    expect(await markChunksDamaged(getDb(), [chunks[1]?.id ?? -1])).toBe(0);
    expect(await findAndLockNar(getDb(), narHash)).toBeNull();
    const complete = await createValidNar(getDb(), { narHash, chunkCount: 1 });
    expect((await findAndLockNar(getDb(), narHash))?.id).toBe(complete.nar.id);
  });

  it("stores sizes beyond 32 bits as numbers", async () => {
    const big = 2 ** 40 + 7;
    const nar = await insertNar(getDb(), {
      state: "V",
      narHash: randomNarHash(),
      narSize: big,
      compression: "xz",
      numChunks: 1,
      holdersCount: 2,
    });
    expect(nar).toMatchObject({ narSize: big, holdersCount: 2 });
    expect((await findAndLockNar(getDb(), nar.narHash))?.narSize).toBe(big);
  });

  it("deletion cascades to chunkrefs and objects", async () => {
    const cache = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb(), { chunkCount: 3 });
    const hash = randomStorePathHash();
    await upsertObject(getDb(), {
      cacheId: cache.id,
      narId: nar.id,
      storePathHash: hash,
      storePath: `/nix/store/${hash}-y`,
      references: [],
      deriver: null,
      sigs: [],
      ca: null,
      createdBy: null,
    });
    expect(await deleteNar(getDb(), nar.id)).toBe(true);
    expect(await deleteNar(getDb(), nar.id)).toBe(false);
    expect(await findObjectWithNar(getDb(), cache.id, hash)).toBeNull();
    const [refs] = await getDb().withSession((s) =>
      s.query<{ n: number }>("SELECT count(*) AS n FROM chunkref WHERE nar_id = $1", [nar.id]),
    );
    expect(refs?.n).toBe(0);
  });

  // SQLite has one connection and no row locks, so no second transaction can hold one meanwhile.
  if (kind === "postgres") {
    it("does not wait for a NAR another transaction has locked", async () => {
      const db = getDb();
      const { nar } = await createValidNar(db);
      await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT 1 FROM nar WHERE id = ${nar.id} FOR UPDATE`);
        expect(await findAndLockNar(db, nar.narHash)).toBeNull();
      });
      expect((await findAndLockNar(db, nar.narHash))?.holdersCount).toBe(1);
    });
  }
});
