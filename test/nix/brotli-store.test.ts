/**
 * A server storing chunks with `[compression] type = "brotli"`: brotli streams cannot be
 * concatenated (a decoder stops after the first), so a NAR cut into several brotli chunks is served
 * as a body Nix cannot decode. Both ingest routes must keep such NARs whole. Proven with real Nix:
 * a ~2 MB NAR pushed by `nix copy --to` and by the attic API, pulled into a fresh store with
 * signatures required, and `garretadm check` (which decodes whole NARs) finds nothing broken.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { atticUpload } from "../support/attic-upload.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type GarretdHandle, runGarretadm, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  describeWithNix,
  nixCopyTo,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  type TestClosure,
} from "../support/nix.ts";

describeWithNix("brotli storage, real Nix", () => {
  let g: GarretdHandle;
  let closure: TestClosure;
  beforeAll(async () => {
    closure = await buildClosure({ seed: "brotli-store", bigMB: 2 });
    g = await startGarretd({ db: "sqlite", storage: "local", compression: "brotli" });
  });
  afterAll(async () => {
    await g?.stop();
  });

  it("nix copy --to and the attic API store NARs Nix can pull, and check finds them sound", async () => {
    const publicKey = await createCacheOver(g.url, g.rootToken, "brotli");
    const pushed = await nixCopyTo({
      cacheUrl: `${g.url}/brotli`,
      paths: [closure.big],
      token: g.rootToken,
      compression: "zstd",
    });
    expect(pushed.code, pushed.stderr).toBe(0);

    const other = await buildClosure({ seed: "brotli-store", bigMB: 2, variant: "attic" });
    const [info] = await queryPathInfo([other.big]);
    const uploaded = await atticUpload({
      url: g.url,
      token: g.rootToken,
      cache: "brotli",
      info: info as PathInfo,
    });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(200);

    for (const mode of ["copy", "realise"] as const) {
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/brotli`,
        publicKey,
        token: g.rootToken,
        paths: [closure.big, other.big],
        mode,
      });
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.verified).toEqual(expect.arrayContaining([closure.big, other.big]));
    }

    await g.stopProcess();
    const check = await runGarretadm(g, ["check"]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/0 broken NARs, 0 bad chunks/);
    await g.startProcess();
  });
});
