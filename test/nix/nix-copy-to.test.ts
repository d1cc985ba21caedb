/**
 * Issue 4's proof with real Nix: `nix copy --to http://127.0.0.1:PORT/CACHE` (xz, zstd, none) of a
 * closure with references, the token as the netrc password, then a pull into a fresh store with
 * signatures required and only the cache's key trusted. Tokens without push permission get nothing
 * stored, and the same path pushed by Nix and by the attic API shares its storage. Runs on SQLite +
 * local disk, and on Postgres + S3 (s3rver) when GARRET_TEST_POSTGRES_URL is set.
 */
import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { atticUpload } from "../support/attic-upload.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, type StorageKind, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  describeWithNix,
  nixCopyTo,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  type TestClosure,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const matrix: Array<[DbKind, StorageKind]> = [["sqlite", "local"]];
if (postgresTestUrl()) matrix.push(["postgres", "s3"]);

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

async function missingPaths(g: GarretdHandle, cache: string, paths: readonly string[]): Promise<string[]> {
  const res = await fetch(`${g.url}/_api/v1/get-missing-paths`, {
    method: "POST",
    headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      cache,
      store_path_hashes: paths.map((p) => p.slice(p.lastIndexOf("/") + 1, p.lastIndexOf("/") + 33)),
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { missing_paths: string[] }).missing_paths;
}

describeWithNix("nix copy --to, Nix pull", () => {
  let closure: TestClosure;
  let infos: PathInfo[];
  let closurePaths: string[];

  beforeAll(async () => {
    closure = await buildClosure({ seed: "nix-copy-to", bigMB: 4 });
    infos = await queryPathInfo([closure.app, closure.big], { recursive: true });
    closurePaths = infos.map((i) => i.path).sort();
  });

  describe.each(matrix)("%s + %s", (db, storage) => {
    let g: GarretdHandle;
    beforeAll(async () => {
      g = await startGarretd({ db, storage });
    });
    afterAll(async () => {
      await g?.stop();
    });

    it.each([
      "xz",
      "zstd",
      "none",
    ] as const)("pushes the closure with compression=%s and Nix substitutes it with signatures required", async (compression) => {
      const cache = `copy-${compression}`;
      const publicKey = await createCacheOver(g.url, g.rootToken, cache);
      const pushToken = await g.mintToken("pusher", { [cache]: ["r", "w"] });
      const started = performance.now();
      const pushed = await nixCopyTo({
        cacheUrl: `${g.url}/${cache}`,
        paths: [closure.app, closure.big],
        token: pushToken,
        compression,
      });
      const ms = Math.round(performance.now() - started);
      expect(pushed.code, pushed.stderr).toBe(0);
      console.log(
        `nix copy --to (${db} + ${storage}, compression=${compression}, ${closurePaths.length} paths): ${ms} ms`,
      );
      expect(await missingPaths(g, cache, closurePaths)).toEqual([]);

      const readToken = await g.mintToken("puller", { [cache]: ["r"] });
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/${cache}`,
        publicKey,
        token: readToken,
        paths: [closure.app, closure.big],
        mode: "copy",
      });
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.verified.sort()).toEqual(closurePaths);
    });

    it("refuses a read-only token and no token, and stores nothing", async () => {
      const cache = "copy-refused";
      await createCacheOver(g.url, g.rootToken, cache);
      const readOnly = await g.mintToken("reader", { [cache]: ["r"] });
      for (const token of [readOnly, undefined]) {
        const pushed = await nixCopyTo({
          cacheUrl: `${g.url}/${cache}`,
          paths: [closure.app],
          token,
          compression: "zstd",
        });
        expect(pushed.code).not.toBe(0);
        expect(pushed.stderr).toMatch(/HTTP error 40[13]|does not appear to be a binary cache/);
      }
      expect((await missingPaths(g, cache, closurePaths)).length).toBe(closurePaths.length);
    });

    it("shares storage between nix copy pushes and attic API pushes of the same path", async () => {
      await createCacheOver(g.url, g.rootToken, "shared-nix");
      await createCacheOver(g.url, g.rootToken, "shared-attic");
      const pushToken = await g.mintToken("pusher", { "shared-nix": ["r", "w"] });
      const push = (path: string) =>
        nixCopyTo({ cacheUrl: `${g.url}/shared-nix`, paths: [path], token: pushToken, compression: "zstd" });

      // Nix first: the attic upload of the same NAR finds it and stores nothing.
      const first = await buildClosure({ seed: "nix-copy-to", bigMB: 4, variant: "nix-first" });
      const [firstInfo] = await queryPathInfo([first.big]);
      const pushed = await push(first.big);
      expect(pushed.code, pushed.stderr).toBe(0);
      const r = await atticUpload({
        url: g.url,
        token: g.rootToken,
        cache: "shared-attic",
        info: firstInfo as PathInfo,
      });
      expect(r.body).toEqual({ kind: "Deduplicated", frac_deduplicated: null });

      // attic first: Nix's upload is chunked into the same chunks, so no file is added.
      const second = await buildClosure({ seed: "nix-copy-to", bigMB: 4, variant: "attic-first" });
      const [secondInfo] = await queryPathInfo([second.big]);
      const uploaded = await atticUpload({
        url: g.url,
        token: g.rootToken,
        cache: "shared-attic",
        info: secondInfo as PathInfo,
      });
      expect(uploaded.body).toMatchObject({ kind: "Uploaded" });
      const before = g.storageDir ? await countFiles(g.storageDir) : 0;
      const again = await push(second.big);
      expect(again.code, again.stderr).toBe(0);
      if (g.storageDir) expect(await countFiles(g.storageDir)).toBe(before);
      expect(await missingPaths(g, "shared-nix", [first.big, second.big])).toEqual([]);
    });
  });
});
