/**
 * Issue 3's proof with real Nix: a closure pushed through the attic upload API is substituted by
 * Nix 2.8 into a fresh store with signatures required, from the embedded configuration (SQLite +
 * local disk) and from Postgres + S3 (s3rver). A wrong public key is refused. The large path
 * deduplicates across caches and a changed version reuses most of its chunks.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { atticUpload } from "../support/attic-upload.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, type StorageKind, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  describeWithNix,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  type TestClosure,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const matrix: Array<[DbKind, StorageKind]> = [["sqlite", "local"]];
if (postgresTestUrl()) matrix.push(["postgres", "s3"]);

/** Runs an upload and, if the connection fails, reports the server's last log lines with it. */
async function withServerLog<T>(g: GarretdHandle, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`upload failed: ${String(err)}\n--- garretd log ---\n${g.logs().slice(-4000)}`, {
      cause: err,
    });
  }
}

describeWithNix("attic API push, Nix pull", () => {
  let closure: TestClosure;
  let infos: PathInfo[];

  beforeAll(async () => {
    closure = await buildClosure({ seed: "attic-push", bigMB: 24 });
    infos = await queryPathInfo([closure.app, closure.big], { recursive: true });
  });

  describe.each(matrix)("%s + %s", (db, storage) => {
    let g: GarretdHandle;
    let publicKey: string;
    beforeAll(async () => {
      g = await startGarretd({ db, storage });
      publicKey = await createCacheOver(g.url, g.rootToken, "main");
    });
    afterAll(async () => {
      await g?.stop();
    });

    it("pushes the closure and Nix substitutes it with signatures required", async () => {
      for (const info of infos) {
        const r = await atticUpload({
          url: g.url,
          token: g.rootToken,
          cache: "main",
          info,
          preamble: info.path === closure.leaf,
        });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
      const readToken = await g.mintToken("puller", { main: ["r"] });
      for (const mode of ["copy", "realise"] as const) {
        const pulled = await pullIntoFreshStore({
          cacheUrl: `${g.url.replace("127.0.0.1", "localhost")}/main`,
          publicKey,
          token: readToken,
          paths: [closure.app, closure.big],
          mode,
        });
        expect(pulled.code, pulled.stderr).toBe(0);
        expect(pulled.verified.sort()).toEqual(infos.map((i) => i.path).sort());
      }
    });

    it("refuses the closure under a wrong public key", async () => {
      const readToken = await g.mintToken("puller", { main: ["r"] });
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/main`,
        publicKey: "main:kZMbkuRlyf7aSFdZpGT+QL/UUOSDtyNcXHIuFupVHnE=",
        token: readToken,
        paths: [closure.app],
        mode: "copy",
      });
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toMatch(/lacks a valid signature|not signed by any of the keys/);
    });

    it("deduplicates the big path across caches and reuses chunks of a changed version", async () => {
      await createCacheOver(g.url, g.rootToken, "second");
      const big = infos.find((i) => i.path === closure.big) as PathInfo;
      const again = await atticUpload({ url: g.url, token: g.rootToken, cache: "second", info: big });
      expect(again.body).toEqual({ kind: "Deduplicated", frac_deduplicated: null });

      const variant = await buildClosure({ seed: "attic-push", bigMB: 24, variant: "v2" });
      const [changed] = await queryPathInfo([variant.big]);
      const r = await withServerLog(g, () =>
        atticUpload({ url: g.url, token: g.rootToken, cache: "second", info: changed as PathInfo }),
      );
      expect(r.status).toBe(200);
      const frac = (r.body as { frac_deduplicated: number }).frac_deduplicated;
      console.log(`changed big path: ${(frac * 100).toFixed(1)}% of its NAR deduplicated`);
      expect(frac).toBeGreaterThan(0.9);
    });
  });
});
