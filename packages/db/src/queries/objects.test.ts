/**
 * Object queries on both databases: the narinfo and download lookups, missing-path queries at the
 * size Nix sends, the upload upsert and batched access bumps.
 */
import { expect, it } from "vitest";
import {
  createTestCache,
  createValidChunk,
  createValidNar,
  randomStorePathHash,
} from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import type { Db } from "../client.ts";
import { deleteChunk, insertChunkRefs } from "./chunks.ts";
import { insertNar } from "./nars.ts";
import {
  bumpLastAccessed,
  findObjectForDownload,
  findObjectWithNar,
  getMissingPaths,
  type UpsertObject,
  upsertObject,
} from "./objects.ts";

function objectInput(cacheId: number, narId: number, hash = randomStorePathHash()): UpsertObject {
  return {
    cacheId,
    narId,
    storePathHash: hash,
    storePath: `/nix/store/${hash}-hello-2.12`,
    references: [`${hash}-hello-2.12`, "0lqf5mg3r6ryyh2rr1qgdb0s2hsv2bm4-glibc-2.38"],
    deriver: "abc-hello.drv",
    sigs: ["cache.nixos.org-1:c2ln"],
    ca: null,
    createdBy: "alice",
  };
}

async function timestamps(db: Db, id: number) {
  const [row] = await db.withSession((s) =>
    s.query<{ created_at: Date; last_accessed_at: Date | null }>(
      "SELECT created_at, last_accessed_at FROM object WHERE id = $1",
      [id],
    ),
  );
  return row;
}

describeEachDb("object queries", (getDb, kind) => {
  it("finds an object with its valid NAR, and nothing for a pending NAR", async () => {
    const cache = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb());
    const input = objectInput(cache.id, nar.id);
    const object = await upsertObject(getDb(), input);
    expect(object).toMatchObject({ ...input, system: null, lastAccessedAt: null });
    const found = await findObjectWithNar(getDb(), cache.id, input.storePathHash);
    expect(found?.object).toEqual(object);
    expect(found?.nar).toMatchObject({ id: nar.id, narHash: nar.narHash, state: "V" });
    expect(await findObjectWithNar(getDb(), cache.id + 1_000_000, input.storePathHash)).toBeNull();

    const pending = await insertNar(getDb(), {
      state: "P",
      narHash: nar.narHash,
      narSize: 1,
      compression: "zstd",
      numChunks: 0,
    });
    const pendingInput = objectInput(cache.id, pending.id);
    await upsertObject(getDb(), pendingInput);
    expect(await findObjectWithNar(getDb(), cache.id, pendingInput.storePathHash)).toBeNull();
    expect(await findObjectForDownload(getDb(), cache.id, pendingInput.storePathHash)).toBeNull();
  });

  it("returns a NAR's chunks in seq order, null for lost or unservable chunks", async () => {
    const cache = await createTestCache(getDb());
    const chunks = [
      await createValidChunk(getDb()),
      await createValidChunk(getDb()),
      await createValidChunk(getDb()),
      await createValidChunk(getDb()),
    ];
    const nar = await insertNar(getDb(), {
      state: "V",
      narHash: "sha256:00",
      narSize: 4000,
      compression: "zstd",
      numChunks: 4,
    });
    // Inserted out of order: the query, not insertion order, must sort them.
    await insertChunkRefs(
      getDb(),
      nar.id,
      [3, 1, 0, 2].map((seq) => ({ seq, chunkId: chunks[seq]?.id ?? -1 })),
    );
    const input = objectInput(cache.id, nar.id);
    await upsertObject(getDb(), input);

    const whole = await findObjectForDownload(getDb(), cache.id, input.storePathHash);
    expect(whole?.object.storePath).toBe(input.storePath);
    expect(whole?.nar.id).toBe(nar.id);
    expect(whole?.chunks.map((c) => c?.id)).toEqual(chunks.map((c) => c.id));
    expect(whole?.chunks[0]?.remoteFile).toBe(chunks[0]?.remoteFile);

    await deleteChunk(getDb(), chunks[1]?.id ?? -1);
    await getDb().withSession((s) => s.query("UPDATE chunk SET state = 'D' WHERE id = $1", [chunks[3]?.id]));
    const damaged = await findObjectForDownload(getDb(), cache.id, input.storePathHash);
    expect(damaged?.chunks.map((c) => c?.id ?? null)).toEqual([chunks[0]?.id, null, chunks[2]?.id, null]);
  });

  it("returns an empty chunk list for a NAR without chunkrefs", async () => {
    const cache = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb(), { chunkCount: 0 });
    const input = objectInput(cache.id, nar.id);
    await upsertObject(getDb(), input);
    expect((await findObjectForDownload(getDb(), cache.id, input.storePathHash))?.chunks).toEqual([]);
    expect(await findObjectForDownload(getDb(), cache.id, randomStorePathHash())).toBeNull();
  });

  it("answers a 10,000-path missing-paths query in one call", async () => {
    const cache = await createTestCache(getDb());
    const other = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb());
    const hashes = Array.from({ length: 10_000 }, () => randomStorePathHash());
    const present = hashes.filter((_, i) => i % 2 === 0);
    // Bulk-load the present half; going through upsertObject 5,000 times would dominate the test.
    await getDb().withSession((s) =>
      s.query(
        `INSERT INTO object (cache_id, nar_id, store_path_hash, store_path, "references", sigs, created_at)
         SELECT $1, $2, h, '/nix/store/' || h || '-p', '[]', '[]', now()
         FROM ${kind === "sqlite" ? "(SELECT value AS h FROM json_each($3))" : "unnest($3::text[]) AS t(h)"}`,
        [cache.id, nar.id, present],
      ),
    );
    const oddOne = hashes[1] ?? "";
    await upsertObject(getDb(), objectInput(other.id, nar.id, oddOne));

    const missing = await getMissingPaths(getDb(), cache.id, [...hashes, oddOne, oddOne]);
    expect(missing.sort()).toEqual(hashes.filter((_, i) => i % 2 === 1).sort());
    expect(await getMissingPaths(getDb(), cache.id, [])).toEqual([]);
    expect(await getMissingPaths(getDb(), other.id, [oddOne, hashes[0] ?? ""])).toEqual([hashes[0]]);
  });

  it("counts objects as present whatever their NAR's state", async () => {
    const cache = await createTestCache(getDb());
    const pending = await insertNar(getDb(), {
      state: "P",
      narHash: "sha256:01",
      narSize: 1,
      compression: "zstd",
      numChunks: 0,
    });
    const input = objectInput(cache.id, pending.id);
    await upsertObject(getDb(), input);
    expect(await getMissingPaths(getDb(), cache.id, [input.storePathHash])).toEqual([]);
  });

  it("re-upload replaces metadata and restarts created_at, clearing last_accessed_at", async () => {
    const cache = await createTestCache(getDb());
    const first = await createValidNar(getDb());
    const second = await createValidNar(getDb());
    const input = objectInput(cache.id, first.nar.id);
    const original = await upsertObject(getDb(), input);
    const old = new Date("2020-01-01T00:00:00Z");
    await getDb().withSession((s) =>
      s.query(
        "UPDATE object SET created_at = $2, last_accessed_at = $2, system = 'x86_64-linux' WHERE id = $1",
        [original.id, old],
      ),
    );

    const replaced = await upsertObject(getDb(), {
      ...input,
      narId: second.nar.id,
      references: [],
      sigs: [],
      deriver: null,
      ca: "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
      createdBy: null,
    });
    expect(replaced.id).toBe(original.id);
    expect(replaced).toMatchObject({
      narId: second.nar.id,
      references: [],
      sigs: [],
      deriver: null,
      system: null,
      ca: "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
      createdBy: null,
      lastAccessedAt: null,
    });
    expect(replaced.createdAt.getTime()).toBeGreaterThan(old.getTime());
    const stored = await timestamps(getDb(), original.id);
    expect(stored?.last_accessed_at).toBeNull();
    expect(new Date(stored?.created_at ?? 0).getTime()).toBe(replaced.createdAt.getTime());
  });

  it("bumps last_accessed_at for a batch, never backwards", async () => {
    const cache = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb());
    const a = await upsertObject(getDb(), objectInput(cache.id, nar.id));
    const b = await upsertObject(getDb(), objectInput(cache.id, nar.id));
    const c = await upsertObject(getDb(), objectInput(cache.id, nar.id));
    const later = new Date("2030-01-01T00:00:00Z");
    const earlier = new Date("2029-01-01T00:00:00Z");
    await bumpLastAccessed(getDb(), [a.id, b.id], later);
    await bumpLastAccessed(getDb(), [a.id], earlier);
    await bumpLastAccessed(getDb(), [], earlier);
    expect((await findObjectWithNar(getDb(), cache.id, a.storePathHash))?.object.lastAccessedAt).toEqual(
      later,
    );
    expect((await findObjectWithNar(getDb(), cache.id, b.storePathHash))?.object.lastAccessedAt).toEqual(
      later,
    );
    expect((await findObjectWithNar(getDb(), cache.id, c.storePathHash))?.object.lastAccessedAt).toBeNull();
  });
});
