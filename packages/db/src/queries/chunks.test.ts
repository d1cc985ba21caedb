/** Chunk queries on both databases: pending → valid, the find-and-lock lease, release, deletion, chunkrefs. */
import { expect, it } from "vitest";
import {
  createValidChunk,
  createValidNar,
  randomHex,
  randomNarHash,
} from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import {
  deleteChunk,
  findAndLockChunk,
  insertChunkRefs,
  insertPendingChunk,
  releaseChunks,
  validateChunk,
} from "./chunks.ts";
import { insertNar } from "./nars.ts";

const pendingInput = (chunkHash: string, compression = "zstd") => {
  const name = `${randomHex(16)}.chunk`;
  return {
    chunkHash,
    chunkSize: 65536,
    compression,
    remoteFile: JSON.stringify({ Local: { name } }),
    remoteFileId: `local:${name}`,
  };
};

describeEachDb("chunk queries", (getDb) => {
  it("writes a pending chunk, validates it with a lease of one, then finds it", async () => {
    const chunkHash = randomNarHash();
    const pending = await insertPendingChunk(getDb(), pendingInput(chunkHash));
    expect(pending).toMatchObject({
      state: "P",
      holdersCount: 0,
      fileHash: null,
      fileSize: null,
      chunkSize: 65536,
    });
    expect(await findAndLockChunk(getDb(), chunkHash, "zstd")).toBeNull();
    const valid = await validateChunk(getDb(), pending.id, { fileHash: "sha256:ff", fileSize: 123 });
    expect(valid).toMatchObject({ state: "V", holdersCount: 1, fileHash: "sha256:ff", fileSize: 123 });
    expect((await findAndLockChunk(getDb(), chunkHash, "zstd"))?.holdersCount).toBe(2);
    expect(await validateChunk(getDb(), -1, { fileHash: "sha256:ff", fileSize: 1 })).toBeNull();
  });

  it("only reuses chunks stored with the requested compression", async () => {
    const chunkHash = randomNarHash();
    const pending = await insertPendingChunk(getDb(), pendingInput(chunkHash, "xz"));
    await validateChunk(getDb(), pending.id, { fileHash: "sha256:aa", fileSize: 1 });
    expect(await findAndLockChunk(getDb(), chunkHash, "zstd")).toBeNull();
    expect((await findAndLockChunk(getDb(), chunkHash, "xz"))?.id).toBe(pending.id);
  });

  it("ignores tombstoned chunks", async () => {
    const chunk = await createValidChunk(getDb());
    await getDb().withSession((s) => s.query("UPDATE chunk SET state = 'D' WHERE id = $1", [chunk.id]));
    expect(await findAndLockChunk(getDb(), chunk.chunkHash, chunk.compression)).toBeNull();
  });

  it("releases leases in one statement, once per listed id, never below zero", async () => {
    const a = await createValidChunk(getDb());
    const b = await createValidChunk(getDb());
    await findAndLockChunk(getDb(), a.chunkHash, "zstd");
    await findAndLockChunk(getDb(), a.chunkHash, "zstd");
    await releaseChunks(getDb(), [a.id, a.id, b.id, b.id]);
    const holders = await getDb().withSession((s) =>
      s.query<{ id: number; holders_count: number }>(
        "SELECT id, holders_count FROM chunk WHERE id IN ($1, $2) ORDER BY id",
        [a.id, b.id],
      ),
    );
    expect(holders).toEqual([
      { id: a.id, holders_count: 1 },
      { id: b.id, holders_count: 0 },
    ]);
    await releaseChunks(getDb(), []);
  });

  it("deleting a chunk leaves its chunkrefs with a NULL chunk_id", async () => {
    const { nar, chunks } = await createValidNar(getDb(), { chunkCount: 2 });
    const first = chunks[0];
    if (!first) throw new Error("no chunk");
    expect(await deleteChunk(getDb(), first.id)).toBe(true);
    expect(await deleteChunk(getDb(), first.id)).toBe(false);
    const refs = await getDb().withSession((s) =>
      s.query<{ seq: number; chunk_id: number | null }>(
        "SELECT seq, chunk_id FROM chunkref WHERE nar_id = $1 ORDER BY seq",
        [nar.id],
      ),
    );
    expect(refs).toEqual([
      { seq: 0, chunk_id: null },
      { seq: 1, chunk_id: chunks[1]?.id },
    ]);
  });

  it("inserts chunkrefs beyond one batch", async () => {
    const chunk = await createValidChunk(getDb());
    const nar = await insertNar(getDb(), {
      state: "P",
      narHash: randomNarHash(),
      narSize: 1,
      compression: "zstd",
      numChunks: 0,
    });
    const refs = Array.from({ length: 2500 }, (_, seq) => ({ seq, chunkId: chunk.id }));
    await insertChunkRefs(getDb(), nar.id, refs);
    const [row] = await getDb().withSession((s) =>
      s.query<{ n: number; max: number }>(
        "SELECT count(*) AS n, max(seq) AS max FROM chunkref WHERE nar_id = $1",
        [nar.id],
      ),
    );
    expect(row).toEqual({ n: 2500, max: 2499 });
    await insertChunkRefs(getDb(), nar.id, []);
  });
});
