/**
 * attic's GC scenario (integration test `basic`, step 10) against the real garretd process: with
 * retention set to 1 s through the API, `--mode garbage-collector-once` removes the paths and every
 * chunk file, while a second cache holding the same NARs keeps them; `--dry-run` before that
 * reports what would go and deletes nothing.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageFileNames } from "../support/cache-api.ts";
import { type DbKind, GARRETD_BIN, type GarretdHandle, runNode, startGarretd } from "../support/garretd.ts";
import { lcgBytes, makeNar, randomStorePathHash } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

for (const db of dbs) {
  describe(`attic GC scenario [${db}]`, () => {
    let g: GarretdHandle;
    beforeAll(async () => {
      g = await startGarretd({ db });
    });
    afterAll(() => g?.stop());

    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${g.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    const createCache = (name: string) =>
      api("POST", `/_api/v1/cache-config/${name}`, {
        keypair: "Generate",
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: ["cache.nixos.org-1"],
      });
    const upload = async (cache: string, hash: string, nar: Buffer) => {
      const info = narInfoForNar(cache, nar, { hash, name: "gc-scenario" });
      const res = await fetch(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: { authorization: `Bearer ${g.rootToken}`, "x-attic-nar-info": JSON.stringify(info) },
        body: nar,
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    };
    /** garbage-collector-once; SQLite is single-process here, so the server steps aside meanwhile. */
    const collectOnce = async (extraArgs: string[] = []) => {
      if (db === "sqlite") await g.stopProcess();
      try {
        return await runGarretd(["-f", g.configPath, "--mode", "garbage-collector-once", ...extraArgs]);
      } finally {
        if (db === "sqlite") await g.startProcess();
      }
    };
    const runGarretd = (args: string[]) =>
      runNode([GARRETD_BIN, ...args], { ...process.env, GARRET_DATA_DIR: g.dataDir });

    it("retention 1 s: narinfo gone, no chunk files left; a cache sharing the NARs keeps them", async () => {
      expect((await createCache("test")).status).toBe(200);
      expect((await createCache("other")).status).toBe(200);
      const nars = [0, 1, 2].map((i) => makeNar({ type: "regular", contents: lcgBytes(150_000, 50 + i) }));
      const hashes = nars.map(() => randomStorePathHash());
      for (let i = 0; i < 3; i++) await upload("test", hashes[i] as string, nars[i] as Buffer);
      // "other" shares the first NAR's data through a path of its own.
      const sharedHash = randomStorePathHash();
      await upload("other", sharedHash, nars[0] as Buffer);
      const uploadedAt = Date.now();
      expect((await api("GET", `/test/${hashes[0]}.narinfo`)).status).toBe(200);

      expect(
        (await api("PATCH", "/_api/v1/cache-config/test", { retention_period: { Period: 1 } })).status,
      ).toBe(200);
      const filesBefore = await storageFileNames(g.storageDir as string);
      // Retention compares whole seconds of age: wait until every upload is more than 1 s old.
      await sleep(Math.max(0, uploadedAt + 1_100 - Date.now()));

      const dry = await collectOnce(["--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain("garbage collection dry run: 3 objects, 2 NARs");
      for (const h of hashes) expect(dry.stdout).toContain(`/nix/store/${h}-gc-scenario`);
      expect(await storageFileNames(g.storageDir as string)).toEqual(filesBefore);

      const gc = await collectOnce();
      expect(gc.code, gc.stderr).toBe(0);
      expect(gc.stdout).toMatch(
        /garbage collection: deleted 3 objects, 2 NARs, \d+ chunks, \d+ bytes in \d+ ms/,
      );
      for (const h of hashes) expect((await api("GET", `/test/${h}.narinfo`)).status).toBe(404);
      const nar = await api("GET", `/other/nar/${sharedHash}.nar`);
      expect(nar.status).toBe(200);
      expect(zstdDecompressSync(nar.body)).toEqual(nars[0]);
      const left = await storageFileNames(g.storageDir as string);
      expect(left.length).toBeGreaterThan(0);
      expect(left.length).toBeLessThan(filesBefore.length);

      // Once the other cache goes too, nothing but VERSION remains (attic's `find ! -name VERSION`).
      expect((await api("DELETE", "/_api/v1/cache-config/other")).status).toBe(200);
      const last = await collectOnce();
      expect(last.code, last.stderr).toBe(0);
      expect(await storageFileNames(g.storageDir as string)).toEqual([]);
    });
  });
}
