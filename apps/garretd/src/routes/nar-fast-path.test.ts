/**
 * The NAR fast path answers exactly as the Hono route does: the same requests (a NAR read whole and
 * one streamed in several reads, public and private caches, tokens that grant, do not grant or are
 * forged, missing caches and paths, a refused Host, a NAR whose chunk file was damaged) are sent over
 * real HTTP to one server with the fast path and one without, and status, headers and body must
 * match. The fast path must really have answered the requests it claims.
 */
import { readdir, truncate } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { compareWithHono, type FastPathComparison } from "../../../../test/support/fast-path-compare.ts";
import { lcgBytes, makeNar } from "../../../../test/support/nar.ts";
import { type PushedPath, pushNar } from "../../../../test/support/push-nar.ts";
import { zstdDecompressSync } from "../../../../test/support/zstd.ts";
import { fastRunner } from "./fast-path.ts";
import { narFastPath } from "./nar-fast-path.ts";

async function chunkFiles(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith(".chunk")) out.add(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

describe("NAR fast path", () => {
  let t: TestApp;
  let servers: FastPathComparison;
  let small: PushedPath;
  let big: PushedPath;
  let priv: PushedPath;
  let damaged: PushedPath;
  let damagedFile: string;
  let reader: string;
  let stranger: string;

  beforeAll(async () => {
    t = await createTestApp({ settings: { allowedHosts: ["cache.test"] } });
    await t.createCache("pub", { isPublic: true });
    await t.createCache("priv");
    const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
    const push = (cache: string, size: number, seed: number) =>
      pushNar(asRoot, cache, { nar: makeNar({ type: "regular", contents: lcgBytes(size, seed) }) });
    small = await push("pub", 5000, 1);
    // Incompressible and above the batch size: chunked, and streamed in several reads.
    big = await push("pub", 3 * 1024 * 1024, 2);
    priv = await push("priv", 5000, 3);
    const before = await chunkFiles(t.storageDir);
    damaged = await push("pub", 7000, 4);
    const added = [...(await chunkFiles(t.storageDir))].filter((f) => !before.has(f));
    expect(added).toHaveLength(1);
    damagedFile = added[0] as string;
    for (const p of [small, big, priv, damaged]) expect(p.status).toBe(200);
    reader = await t.mintToken("reader", { priv: ["r"] });
    stranger = await t.mintToken("stranger", { other: ["r"] });
    servers = await compareWithHono(t, narFastPath(t.deps, fastRunner(t.deps)) ?? (() => false));
  });

  afterAll(async () => {
    servers?.close();
    await t?.close();
  });

  const cases: Array<{
    name: string;
    path: () => string;
    headers?: () => Record<string, string>;
    status: number;
    fast: boolean;
  }> = [
    { name: "small NAR, anonymous", path: () => `/pub/nar/${small.hash}.nar`, status: 200, fast: true },
    { name: "NAR of several reads", path: () => `/pub/nar/${big.hash}.nar`, status: 200, fast: true },
    { name: "missing path", path: () => `/pub/nar/${"0".repeat(32)}.nar`, status: 404, fast: true },
    { name: "private NAR, anonymous", path: () => `/priv/nar/${priv.hash}.nar`, status: 401, fast: true },
    {
      name: "private NAR, reader token",
      path: () => `/priv/nar/${priv.hash}.nar`,
      headers: () => ({ authorization: `Bearer ${reader}` }),
      status: 200,
      fast: true,
    },
    {
      name: "private NAR, token for another cache",
      path: () => `/priv/nar/${priv.hash}.nar`,
      headers: () => ({ authorization: `Bearer ${stranger}` }),
      status: 401,
      fast: true,
    },
    {
      name: "private NAR, forged token",
      path: () => `/priv/nar/${priv.hash}.nar`,
      headers: () => ({ authorization: `Bearer ${reader.slice(0, -4)}AAAA` }),
      status: 401,
      fast: true,
    },
    { name: "missing cache", path: () => `/nosuch/nar/${small.hash}.nar`, status: 401, fast: true },
    {
      name: "refused Host",
      path: () => `/pub/nar/${small.hash}.nar`,
      headers: () => ({ host: "evil.test" }),
      status: 400,
      fast: true,
    },
    {
      name: "malformed hash (left to Hono)",
      path: () => "/pub/nar/not-a-hash.nar",
      status: 400,
      fast: false,
    },
    {
      name: "other suffix (left to Hono)",
      path: () => `/pub/nar/${small.hash}.nar.xz`,
      status: 404,
      fast: false,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status}, identical both ways`, async () => {
      const before = servers.fastAnswers();
      const { hono, fast } = await servers.both(c.path(), c.headers?.() ?? {});
      expect(servers.fastAnswers() - before).toBe(c.fast ? 1 : 0);
      expect(hono.status, Buffer.from(hono.body, "base64").toString().slice(0, 200)).toBe(c.status);
      expect(fast).toEqual({ ...hono, requestId: fast.requestId });
    });
  }

  it("a NAR read whole carries its Content-Length", async () => {
    const { fast } = await servers.both(`/pub/nar/${small.hash}.nar`, {});
    const length = fast.headers.find(([name]) => name === "content-length")?.[1];
    expect(Number(length)).toBe(Buffer.from(fast.body, "base64").length);
  });

  it("a damaged chunk file: 503 IncompleteNar before any body, both ways (fail closed)", async () => {
    // Served (and its chunk seen) once while intact, so the size check is skipped and the read finds it.
    expect((await servers.both(`/pub/nar/${damaged.hash}.nar`, {})).fast.status).toBe(200);
    await truncate(damagedFile, 0);
    const before = servers.fastAnswers();
    // The fast path first: it is the one that finds the damage on reading and marks the chunk.
    const { hono, fast } = await servers.both(`/pub/nar/${damaged.hash}.nar`, {}, { fastFirst: true });
    expect(servers.fastAnswers() - before).toBe(1);
    expect(hono.status).toBe(503);
    expect(JSON.parse(Buffer.from(hono.body, "base64").toString())).toMatchObject({ error: "IncompleteNar" });
    expect(fast).toEqual({ ...hono, requestId: fast.requestId });
  });

  it("many NARs downloaded at once each get their own bytes (read memory is reused between them)", async () => {
    const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
    const sizes = [3000, 20_000, 70_000, 150_000, 2_500_000, 9000, 110_000, 2_200_000];
    const paths: PushedPath[] = [];
    for (const [i, size] of sizes.entries()) {
      const p = await pushNar(asRoot, "pub", {
        nar: makeNar({ type: "regular", contents: lcgBytes(size, 100 + i) }),
      });
      expect(p.status).toBe(200);
      paths.push(p);
    }
    const before = servers.fastAnswers();
    const rounds = 4;
    const answers = await Promise.all(
      Array.from({ length: rounds }, () => paths.map((p) => servers.fast(`/pub/nar/${p.hash}.nar`))).flat(),
    );
    expect(servers.fastAnswers() - before).toBe(rounds * paths.length);
    answers.forEach((a, i) => {
      const p = paths[i % paths.length] as PushedPath;
      expect(a.status).toBe(200);
      expect(zstdDecompressSync(Buffer.from(a.body, "base64")).equals(p.nar)).toBe(true);
    });
  });

  it("counts its requests in the same metric series as Hono", async () => {
    const series = () =>
      t.deps.metrics.registry
        .render()
        .split("\n")
        .find((l) =>
          l.startsWith('garret_http_requests_total{route="/:cache/nar/:file",method="GET",status="200"}'),
        );
    const count = () => Number(series()?.split(" ").pop() ?? 0);
    const start = count();
    await servers.both(`/pub/nar/${small.hash}.nar`, {});
    expect(count() - start).toBe(2);
  });
});
