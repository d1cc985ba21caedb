/**
 * Issue 18's proof: garret as a pull-through cache in front of an upstream binary cache. The
 * upstream is Debian's nginx serving a signed `nix copy --to file://` directory. Real Nix, with
 * garret as its only substituter and trusting only the garret cache's key, substitutes a closure
 * that exists only upstream into a fresh store (signatures required); a second fresh store gets it
 * again with nginx stopped. Paths with a bad signature or a corrupted NAR are not served and
 * nothing of them is stored; an upstream that is down or hangs gives a 404 within the bound; 16
 * concurrent requests for one missing path cause one upstream NAR fetch (nginx's access log).
 * Runs on SQLite, and on Postgres when GARRET_TEST_POSTGRES_URL is set.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCacheOver, storageFileNames } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { type NginxServer, startNginx } from "../support/nginx.ts";
import {
  type BinaryCacheKey,
  buildClosure,
  buildMany,
  describeWithNix,
  generateBinaryCacheKey,
  nixCopyTo,
  nixTempDir,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  type TestClosure,
  toNix32,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const dbKinds: DbKind[] = ["sqlite"];
if (postgresTestUrl()) dbKinds.push("postgres");

/** narinfo-timeout in the server.toml below; a 404 must come within it plus slack for a loaded machine. */
const NARINFO_TIMEOUT_MS = 1500;
const BOUND_MS = NARINFO_TIMEOUT_MS + 2000;

const hashOf = (path: string) => path.slice(path.lastIndexOf("/") + 1, path.lastIndexOf("/") + 33);

async function missingPaths(g: GarretdHandle, cache: string, paths: readonly string[]): Promise<string[]> {
  const res = await fetch(`${g.url}/_api/v1/get-missing-paths`, {
    method: "POST",
    headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
    body: JSON.stringify({ cache, store_path_hashes: paths.map(hashOf) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { missing_paths: string[] }).missing_paths;
}

async function configureUpstreams(
  g: GarretdHandle,
  cache: string,
  upstreams: Array<{ url: string; trusted_keys: string[] }> | null,
): Promise<void> {
  const res = await fetch(`${g.url}/_api/v1/cache-config/${cache}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
    body: JSON.stringify({ garret_upstreams: upstreams }),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** A TCP server that accepts connections and never answers: an upstream that hangs. */
async function startHungServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The narinfo file of a path in a `file://` cache directory. */
const narInfoFile = (dir: string, path: string) => join(dir, `${hashOf(path)}.narinfo`);

describeWithNix("pull-through from an upstream binary cache", () => {
  let closure: TestClosure;
  let closureInfos: PathInfo[];
  let closurePaths: string[];
  /** Tiny paths: [0..3] one per compression, [4] bad signature, [5] corrupted NAR, [6..] spares. */
  let many: string[];
  let manyInfos: Map<string, PathInfo>;
  let upstreamKey: BinaryCacheKey;
  let upstreamDir: string;
  let seed: string;

  beforeAll(async () => {
    seed = `pull-through-${process.pid}-${Date.now()}`;
    closure = await buildClosure({ seed, bigMB: 4 });
    closureInfos = await queryPathInfo([closure.app, closure.big], { recursive: true });
    closurePaths = closureInfos.map((i) => i.path).sort();
    many = await buildMany({ seed, count: 20 });
    manyInfos = new Map((await queryPathInfo(many)).map((i) => [i.path, i]));
    upstreamKey = await generateBinaryCacheKey("upstream-test-1");
    upstreamDir = await nixTempDir("upstream");
    const copy = async (paths: string[], compression: "xz" | "zstd" | "bzip2" | "none") => {
      const r = await nixCopyTo({
        cacheUrl: `file://${upstreamDir}`,
        paths,
        compression,
        secretKeyFile: upstreamKey.secretKeyFile,
      });
      expect(r.code, r.stderr).toBe(0);
    };
    // What cache.nixos.org serves: xz.
    await copy([closure.app, closure.big], "xz");
    await copy([many[0] as string, ...many.slice(6, 13)], "xz");
    await copy([many[1] as string, ...many.slice(13)], "zstd");
    await copy([many[2] as string], "bzip2");
    await copy([many[3] as string, many[4] as string, many[5] as string], "none");

    // many[4]: a signature that does not verify (one byte of it changed).
    const badSig = narInfoFile(upstreamDir, many[4] as string);
    const text = await readFile(badSig, "utf8");
    await writeFile(
      badSig,
      text.replace(
        /^Sig: ([^:]+):(.)/m,
        (_m, name: string, c: string) => `Sig: ${name}:${c === "A" ? "B" : "A"}`,
      ),
    );
    // many[5]: the NAR's bytes changed after signing (same size, so only the hash tells).
    const corrupt = await readFile(narInfoFile(upstreamDir, many[5] as string), "utf8");
    const url = /^URL: (.*)$/m.exec(corrupt)?.[1] as string;
    const nar = await readFile(join(upstreamDir, url));
    const at = nar.length - 40;
    nar[at] = (nar[at] as number) ^ 0xff;
    await writeFile(join(upstreamDir, url), nar);
  });

  describe.each(dbKinds)("%s", (db) => {
    let g: GarretdHandle;
    let nginx: NginxServer;
    let hung: { url: string; close(): Promise<void> };
    let lanKey: string;
    const timings: Record<string, number> = {};

    beforeAll(async () => {
      nginx = await startNginx(upstreamDir);
      hung = await startHungServer();
      // The server-wide default points at nginx, as a LAN cache's would at cache.nixos.org.
      g = await startGarretd({
        db,
        extraToml: [
          "[garret.upstream]",
          `narinfo-timeout = "${NARINFO_TIMEOUT_MS}ms"`,
          'nar-timeout = "5s"',
          'negative-ttl = "30s"',
          "[[garret.upstream.default]]",
          `url = "${nginx.url}"`,
          `trusted-keys = ["${upstreamKey.publicKey}"]`,
          "",
        ].join("\n"),
      });
      lanKey = await createCacheOver(g.url, g.rootToken, "lan");
      await createCacheOver(g.url, g.rootToken, "hung");
      await configureUpstreams(g, "hung", [{ url: hung.url, trusted_keys: [upstreamKey.publicKey] }]);
      await createCacheOver(g.url, g.rootToken, "private");
      await createCacheOver(g.url, g.rootToken, "off");
      await configureUpstreams(g, "off", []);
    });
    afterAll(async () => {
      if (Object.keys(timings).length > 0) console.log(`pull-through timings (${db}):`, timings);
      await g?.stop();
      await nginx?.stop();
      await hung?.close();
    });

    const get = (path: string, token?: string) =>
      fetch(`${g.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

    it("baseline: Nix substitutes the closure from the upstream directly", async () => {
      const started = performance.now();
      const pulled = await pullIntoFreshStore({
        cacheUrl: nginx.url,
        publicKey: upstreamKey.publicKey,
        paths: [closure.app, closure.big],
        mode: "realise",
      });
      timings.upstreamDirectMs = Math.round(performance.now() - started);
      expect(pulled.code, pulled.stderr).toBe(0);
    });

    it("Nix with garret as its only substituter, trusting only the cache's key, gets a closure that exists only upstream", async () => {
      expect((await missingPaths(g, "lan", closurePaths)).length).toBe(closurePaths.length);
      const logBefore = (await nginx.requests()).length;
      const reader = await g.mintToken("reader", { lan: ["r"] });
      const started = performance.now();
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/lan`,
        publicKey: lanKey,
        token: reader,
        paths: [closure.app, closure.big],
        mode: "realise",
      });
      timings.firstHitMs = Math.round(performance.now() - started);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.verified.sort()).toEqual(closurePaths);
      // Pulled paths belong to the cache now.
      expect(await missingPaths(g, "lan", closurePaths)).toEqual([]);
      const narFetches = (await nginx.requests()).slice(logBefore).filter((l) => l.startsWith("GET /nar/"));
      expect(narFetches.length).toBe(closurePaths.length);
    });

    it("keeps pulled paths as the cache's own: statistics and pins", async () => {
      const auth = { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" };
      const stats = (await (await get("/_api/v1/caches/lan/stats", g.rootToken)).json()) as {
        objects: number;
      };
      expect(stats.objects).toBeGreaterThanOrEqual(closurePaths.length);
      const pin = await fetch(`${g.url}/_api/v1/caches/lan/pins/release`, {
        method: "PUT",
        headers: auth,
        body: JSON.stringify({ store_paths: [closure.app] }),
      });
      expect(pin.status, await pin.text()).toBe(200);
    });

    it("serves the upstream signature beside the cache's, so a client trusting only upstream accepts it", async () => {
      const reader = await g.mintToken("reader", { lan: ["r"] });
      const text = await (await get(`/lan/${hashOf(closure.app)}.narinfo`, reader)).text();
      const sigs = text.split("\n").filter((l) => l.startsWith("Sig: "));
      expect(sigs.map((s) => s.slice(5, s.indexOf(":", 5)))).toEqual(["lan", "upstream-test-1"]);
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/lan`,
        publicKey: upstreamKey.publicKey,
        token: reader,
        paths: [closure.app],
        mode: "realise",
      });
      expect(pulled.code, pulled.stderr).toBe(0);
    });

    it("decompresses xz, zstd, bzip2 and uncompressed upstream NARs and checks them", async () => {
      for (const path of many.slice(0, 4)) {
        const info = manyInfos.get(path) as PathInfo;
        const narinfo = await get(`/lan/${hashOf(path)}.narinfo`, g.rootToken);
        expect(narinfo.status, path).toBe(200);
        expect(await narinfo.text()).toContain(`StorePath: ${path}`);
        const nar = await get(`/lan/nar/${hashOf(path)}.nar`, g.rootToken);
        expect(nar.status, path).toBe(200);
        const body = zstdDecompressSync(new Uint8Array(await nar.arrayBuffer()));
        expect(`sha256:${toNix32(createHash("sha256").update(body).digest())}`).toBe(info.narHash);
      }
      expect(await missingPaths(g, "lan", many.slice(0, 4))).toEqual([]);
    });

    it("does not serve or store a path whose upstream signature does not verify", async () => {
      const path = many[4] as string;
      const before = await storageFileNames(g.storageDir as string);
      expect((await get(`/lan/${hashOf(path)}.narinfo`, g.rootToken)).status).toBe(404);
      expect((await get(`/lan/nar/${hashOf(path)}.nar`, g.rootToken)).status).toBe(404);
      expect(await missingPaths(g, "lan", [path])).toEqual([hashOf(path)]);
      expect(await storageFileNames(g.storageDir as string)).toEqual(before);
    });

    it("does not serve or store a NAR that does not match its signed NarHash", async () => {
      const path = many[5] as string;
      const before = await storageFileNames(g.storageDir as string);
      // The narinfo verifies; the NAR is fetched and checked on the NAR request.
      expect((await get(`/lan/${hashOf(path)}.narinfo`, g.rootToken)).status).toBe(200);
      expect((await get(`/lan/nar/${hashOf(path)}.nar`, g.rootToken)).status).toBe(404);
      expect((await get(`/lan/${hashOf(path)}.narinfo`, g.rootToken)).status).toBe(404);
      expect(await missingPaths(g, "lan", [path])).toEqual([hashOf(path)]);
      expect(await storageFileNames(g.storageDir as string)).toEqual(before);
      const reader = await g.mintToken("reader", { lan: ["r"] });
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/lan`,
        publicKey: lanKey,
        token: reader,
        paths: [path],
        mode: "realise",
      });
      expect(pulled.code).not.toBe(0);
    });

    it("fetches a NAR once from upstream for 16 concurrent requests", async () => {
      const path = many[6] as string;
      const info = manyInfos.get(path) as PathInfo;
      const narinfos = await Promise.all(
        Array.from({ length: 16 }, () => get(`/lan/${hashOf(path)}.narinfo`, g.rootToken)),
      );
      expect(narinfos.map((r) => r.status)).toEqual(Array(16).fill(200));
      const upstreamUrl = /^URL: (.*)$/m.exec(await readFile(narInfoFile(upstreamDir, path), "utf8"))?.[1];
      const nars = await Promise.all(
        Array.from({ length: 16 }, () => get(`/lan/nar/${hashOf(path)}.nar`, g.rootToken)),
      );
      expect(nars.map((r) => r.status)).toEqual(Array(16).fill(200));
      for (const nar of nars) {
        const body = zstdDecompressSync(new Uint8Array(await nar.arrayBuffer()));
        expect(`sha256:${toNix32(createHash("sha256").update(body).digest())}`).toBe(info.narHash);
      }
      const log = await nginx.requests();
      expect(log.filter((l) => l.startsWith(`GET /${upstreamUrl} `))).toHaveLength(1);
      expect(log.filter((l) => l.startsWith(`GET /${hashOf(path)}.narinfo `))).toHaveLength(1);
    });

    it("never contacts the upstream of a private cache for a caller who cannot read it", async () => {
      const path = many[7] as string;
      const outsider = await g.mintToken("outsider", { lan: ["r"] });
      const before = (await nginx.requests()).length;
      expect((await get(`/private/${hashOf(path)}.narinfo`, outsider)).status).toBe(401);
      expect((await get(`/private/${hashOf(path)}.narinfo`)).status).toBe(401);
      expect((await get(`/private/nar/${hashOf(path)}.nar`, outsider)).status).toBe(401);
      expect((await nginx.requests()).length).toBe(before);
      // A cache with pull-through turned off never asks either.
      expect((await get(`/off/${hashOf(path)}.narinfo`, g.rootToken)).status).toBe(404);
      expect((await nginx.requests()).length).toBe(before);
    });

    it("answers 404 within the bound when the upstream hangs", async () => {
      const started = performance.now();
      const res = await get(`/hung/${hashOf(many[8] as string)}.narinfo`, g.rootToken);
      const ms = performance.now() - started;
      expect(res.status).toBe(404);
      expect(ms).toBeLessThan(BOUND_MS);
      expect(ms).toBeGreaterThanOrEqual(NARINFO_TIMEOUT_MS - 100);
    });

    it("serves pulled paths with the upstream stopped, and answers 404 at once for the rest", async () => {
      await nginx.stop();
      const reader = await g.mintToken("reader", { lan: ["r"] });
      const started = performance.now();
      const pulled = await pullIntoFreshStore({
        cacheUrl: `${g.url}/lan`,
        publicKey: lanKey,
        token: reader,
        paths: [closure.app, closure.big],
        mode: "realise",
      });
      timings.secondHitMs = Math.round(performance.now() - started);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.verified.sort()).toEqual(closurePaths);

      const t0 = performance.now();
      const res = await get(`/lan/${hashOf(many[9] as string)}.narinfo`, reader);
      expect(res.status).toBe(404);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
    });

    it("counts upstream lookups, fetches and bytes in /metrics", async () => {
      const text = await (await get("/metrics", g.rootToken)).text();
      expect(text).toMatch(/garret_upstream_narinfo_lookups_total\{result="hit"\} [1-9]/);
      expect(text).toMatch(/garret_upstream_narinfo_lookups_total\{result="rejected"\} [1-9]/);
      expect(text).toMatch(/garret_upstream_nar_fetches_total\{result="stored"\} [1-9]/);
      expect(text).toMatch(/garret_upstream_nar_fetches_total\{result="rejected"\} [1-9]/);
      expect(text).toMatch(/garret_upstream_received_bytes_total [1-9]/);
    });
  });
});
