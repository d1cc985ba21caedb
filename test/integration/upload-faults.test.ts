/**
 * Upload failures against the real garretd process: a client that disconnects halfway leaves
 * nothing visible and nothing that one GC run does not reclaim, even when garretd is stopped while
 * that upload is still storing what it had received; two clients uploading the same new
 * path at once both succeed and the path is served intact.
 */

import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectSameBytes } from "../support/bytes.ts";
import { createCacheOver, storageFileNames } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { lcgBytes, makeNar, randomStorePathHash } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

function narInfoFor(cache: string, hash: string, nar: Buffer) {
  return narInfoForNar(cache, nar, { hash, name: "fault-test" });
}

describe.each(dbs)("upload faults (%s + local)", (db) => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local" });
    await createCacheOver(g.url, g.rootToken, "faults", { isPublic: true });
  });
  afterAll(() => g?.stop());

  /**
   * Stops garretd (the embedded SQLite database is single-process: the collector needs it to
   * itself), runs the collector once, expects no storage file left, and starts garretd again.
   */
  const stopThenExpectOneGcRunLeavesNoFile = async () => {
    await g.stopProcess();
    try {
      const gc = await g.runMode("garbage-collector-once");
      expect(gc.code, gc.stderr).toBe(0);
      expect(await storageFileNames(g.storageDir as string)).toEqual([]);
    } finally {
      await g.startProcess();
    }
  };

  /** Sends the first `bytes` of an upload of `nar`, waits `pauseMs`, then drops the connection. */
  const sendPartOfThenDisconnect = (nar: Buffer, hash: string, bytes: number, pauseMs: number) =>
    new Promise<void>((resolve) => {
      const req = request(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${g.rootToken}`,
          "x-attic-nar-info": JSON.stringify(narInfoFor("faults", hash, nar)),
          "transfer-encoding": "chunked",
        },
      });
      req.on("error", () => resolve());
      req.on("response", () => resolve());
      req.write(nar.subarray(0, bytes), () => {
        setTimeout(() => {
          req.destroy();
          resolve();
        }, pauseMs);
      });
    });

  it("a client that disconnects halfway leaves nothing visible, and GC reclaims what it wrote", async () => {
    const nar = makeNar({ type: "regular", contents: lcgBytes(3_000_000, 11) });
    const hash = randomStorePathHash();
    await sendPartOfThenDisconnect(nar, hash, 1_500_000, 300);
    const narinfo = await fetch(`${g.url}/faults/${hash}.narinfo`);
    expect(narinfo.status).toBe(404);
    const missing = await fetch(`${g.url}/_api/v1/get-missing-paths`, {
      method: "POST",
      headers: { authorization: `Bearer ${g.rootToken}` },
      body: JSON.stringify({ cache: "faults", store_path_hashes: [hash] }),
    });
    expect(await missing.json()).toEqual({ missing_paths: [hash] });

    await stopThenExpectOneGcRunLeavesNoFile();
  });

  it("garretd stopped right after a client disconnected halfway lets that upload finish storing, and GC reclaims it", async () => {
    const nar = makeNar({ type: "regular", contents: lcgBytes(12_000_000, 12) });
    const hash = randomStorePathHash();
    await sendPartOfThenDisconnect(nar, hash, 9_000_000, 0);
    // Stopped at once: the upload's last batches are still being compressed and stored.
    await stopThenExpectOneGcRunLeavesNoFile();
    expect((await fetch(`${g.url}/faults/${hash}.narinfo`)).status).toBe(404);
  });

  it("two clients uploading the same new path at once both succeed, one copy served", async () => {
    const nar = makeNar({ type: "regular", contents: lcgBytes(1_000_000, 12) });
    const hash = randomStorePathHash();
    const put = () =>
      fetch(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${g.rootToken}`,
          "x-attic-nar-info": JSON.stringify(narInfoFor("faults", hash, nar)),
        },
        body: nar,
      });
    const [a, b] = await Promise.all([put(), put()]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const res = await fetch(`${g.url}/faults/nar/${hash}.nar`);
    expect(res.status).toBe(200);
    expectSameBytes(zstdDecompressSync(Buffer.from(await res.arrayBuffer())), nar);
  });
});
