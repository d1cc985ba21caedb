/**
 * With real Nix: a NAR below `nar-size-threshold` that `nix copy --to …?compression=zstd` pushes is
 * stored as the very file Nix compressed (not decompressed and compressed again), that file is
 * what garret serves, Nix substitutes the closure from it with signatures required, and
 * `garretadm check` finds the store sound. Nix's own bytes come from `nix copy --to file://` of the
 * same paths (same compressor, same input, same file). SQLite and Postgres, local storage.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "@garret/db";
import { parseNarInfo } from "@garret/nix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openHandleDb } from "../reliability/support.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, runGarretadm, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  describeWithNix,
  nixCopyTo,
  nixTempDir,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  removeTree,
  runNix,
  type TestClosure,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";

/** garretd's defaults (the test harness's default threshold of 1 chunks every NAR). */
const CHUNKING = { narSizeThreshold: 65_536, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 };
const THRESHOLD = CHUNKING.narSizeThreshold;
const dbs: DbKind[] = ["sqlite"];
if (postgresTestUrl()) dbs.push("postgres");

async function findFile(dir: string, name: string): Promise<string | null> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name === name) return join(e.parentPath, e.name);
  }
  return null;
}

/** The chunk files of the NAR each store path hash points at, in order. */
async function chunkFiles(db: Db, cache: string, hash: string): Promise<string[]> {
  const rows = await db.withSession((s) =>
    s.query<{ remote_file: string }>(
      `SELECT c.remote_file FROM object o JOIN cache k ON k.id = o.cache_id
       JOIN chunkref r ON r.nar_id = o.nar_id JOIN chunk c ON c.id = r.chunk_id
       WHERE k.name = '${cache}' AND o.store_path_hash = '${hash}' ORDER BY r.seq`,
    ),
  );
  return rows.map((r) => (JSON.parse(r.remote_file) as { Local: { name: string } }).Local.name);
}

describeWithNix("nix copy --to with zstd: small NARs stored as Nix sent them", () => {
  let closure: TestClosure;
  let infos: PathInfo[];
  let nixFiles: Map<string, Buffer>;
  let reference: string;

  beforeAll(async () => {
    closure = await buildClosure({ seed: "nix-copy-passthrough", bigMB: 1 });
    infos = await queryPathInfo([closure.app, closure.big], { recursive: true });
    reference = await nixTempDir("file-cache");
    const copied = await runNix("nix", [
      "copy",
      "--to",
      `file://${reference}?compression=zstd`,
      closure.app,
      closure.big,
    ]);
    expect(copied.code, copied.stderr).toBe(0);
    nixFiles = new Map();
    for (const info of infos) {
      const hash = info.path.slice("/nix/store/".length, "/nix/store/".length + 32);
      const narinfo = parseNarInfo(await readFile(join(reference, `${hash}.narinfo`), "utf8"));
      nixFiles.set(hash, await readFile(join(reference, narinfo.url)));
    }
  });
  afterAll(async () => {
    if (reference) await removeTree(reference);
  });

  describe.each(dbs)("%s + local", (db) => {
    let g: GarretdHandle;
    beforeAll(async () => {
      g = await startGarretd({ db, storage: "local", chunking: CHUNKING });
    });
    afterAll(async () => {
      await g?.stop();
    });

    it("stores Nix's file, serves it, and Nix substitutes it with signatures required", async () => {
      const small = infos.filter((i) => i.narSize < THRESHOLD);
      expect(small.length).toBeGreaterThanOrEqual(3);
      expect(infos.some((i) => i.narSize >= THRESHOLD)).toBe(true);

      const publicKey = await createCacheOver(g.url, g.rootToken, "passthrough");
      const pushed = await nixCopyTo({
        cacheUrl: `${g.url}/passthrough`,
        paths: [closure.app, closure.big],
        token: g.rootToken,
        compression: "zstd",
      });
      expect(pushed.code, pushed.stderr).toBe(0);

      for (const i of small) {
        const hash = i.path.slice("/nix/store/".length, "/nix/store/".length + 32);
        const res = await fetch(`${g.url}/passthrough/nar/${hash}.nar`, {
          headers: { authorization: `Bearer ${g.rootToken}` },
        });
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(nixFiles.get(hash) as Buffer), i.path).toBe(true);
      }
      for (const mode of ["copy", "realise"] as const) {
        const pulled = await pullIntoFreshStore({
          cacheUrl: `${g.url}/passthrough`,
          publicKey,
          token: g.rootToken,
          paths: [closure.app, closure.big],
          mode,
        });
        expect(pulled.code, pulled.stderr).toBe(0);
        expect(pulled.verified.sort()).toEqual(infos.map((i) => i.path).sort());
      }

      // The embedded database is only opened by one process at a time.
      await g.stopProcess();
      const handle = await openHandleDb(g);
      try {
        for (const i of small) {
          const hash = i.path.slice("/nix/store/".length, "/nix/store/".length + 32);
          const files = await chunkFiles(handle, "passthrough", hash);
          expect(files).toHaveLength(1);
          const path = await findFile(g.storageDir as string, files[0] as string);
          expect(path).not.toBeNull();
          expect((await readFile(path as string)).equals(nixFiles.get(hash) as Buffer), i.path).toBe(true);
        }
      } finally {
        await handle.close();
      }
      const check = await runGarretadm(g, ["check"]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toMatch(/0 broken NARs/);
    });
  });
});
