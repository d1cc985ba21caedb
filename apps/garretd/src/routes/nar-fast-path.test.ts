/**
 * The NAR fast path answers exactly as the Hono route does: the same requests (a NAR read whole and
 * one streamed in several reads, public and private caches, tokens that grant, do not grant or are
 * forged, missing caches and paths, a refused Host, a NAR whose chunk file was damaged) are sent over
 * real HTTP to one server with the fast path and one without, and status, headers and body must
 * match. The fast path must really have answered the requests it claims.
 */
import { truncate } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { storageFilePaths } from "../../../../test/support/cache-api.ts";
import {
  accessCases,
  compareWithHono,
  type FastPathComparison,
  itAnswersAsHono,
  itCountsAsHono,
  publicAndPrivateCaches,
} from "../../../../test/support/fast-path-compare.ts";
import { lcgBytes, makeNar } from "../../../../test/support/nar.ts";
import { type PushedPath, pushNar } from "../../../../test/support/push-nar.ts";
import { zstdDecompressSync } from "../../../../test/support/zstd.ts";
import { fastRunner } from "./fast-path.ts";
import { narFastPath } from "./nar-fast-path.ts";

describe("NAR fast path", () => {
  let t: TestApp;
  let servers: FastPathComparison;
  let fixture: { pub: PushedPath; priv: PushedPath; reader: string; stranger: string };
  let big: PushedPath;
  let damaged: PushedPath;
  let damagedFile: string;
  let hot: PushedPath;
  let hotFiles: string[];

  beforeAll(async () => {
    t = await createTestApp({ settings: { allowedHosts: ["cache.test"] } });
    const caches = await publicAndPrivateCaches(t);
    fixture = { ...caches, pub: await caches.push("pub", 5000, 1), priv: await caches.push("priv", 5000, 3) };
    // Incompressible and above the batch size: chunked, and streamed in several reads.
    big = await caches.push("pub", 3 * 1024 * 1024, 2);
    const before = new Set(await storageFilePaths(t.storageDir));
    damaged = await caches.push("pub", 7000, 4);
    const added = (await storageFilePaths(t.storageDir)).filter((f) => !before.has(f));
    expect(added).toHaveLength(1);
    damagedFile = added[0] as string;
    // Incompressible, several chunks, one read batch above the small-read size: read by a worker
    // at first, on the main thread once it has been read recently (BatchReadOptions.inline).
    const beforeHot = new Set(await storageFilePaths(t.storageDir));
    hot = await caches.push("pub", 400 * 1024, 5);
    hotFiles = (await storageFilePaths(t.storageDir)).filter((f) => !beforeHot.has(f));
    expect(hotFiles.length).toBeGreaterThan(1);
    servers = await compareWithHono(t, narFastPath(t.deps, fastRunner(t.deps)) ?? (() => false));
  });

  afterAll(async () => {
    servers?.close();
    await t?.close();
  });

  const nar = (cache: string, hash: string) => `/${cache}/nar/${hash}.nar`;

  itAnswersAsHono(
    () => servers,
    [
      ...accessCases(nar, () => fixture),
      { name: "NAR of several reads", path: () => nar("pub", big.hash), status: 200, fast: true },
      {
        name: "malformed hash (left to Hono)",
        path: () => "/pub/nar/not-a-hash.nar",
        status: 400,
        fast: false,
      },
      {
        name: "other suffix (left to Hono)",
        path: () => `${nar("pub", fixture.pub.hash)}.xz`,
        status: 404,
        fast: false,
      },
    ],
  );

  it("a NAR read whole carries its Content-Length", async () => {
    const { fast } = await servers.both(nar("pub", fixture.pub.hash), {});
    const length = fast.headers.find(([name]) => name === "content-length")?.[1];
    expect(Number(length)).toBe(Buffer.from(fast.body, "base64").length);
  });

  it("a damaged chunk file: 503 IncompleteNar before any body, both ways (fail closed)", async () => {
    // Served (and its chunk seen) once while intact, so the size check is skipped and the read finds it.
    expect((await servers.both(nar("pub", damaged.hash), {})).fast.status).toBe(200);
    await truncate(damagedFile, 0);
    const before = servers.fastAnswers();
    // The fast path first: it is the one that finds the damage on reading and marks the chunk.
    const { hono, fast } = await servers.both(nar("pub", damaged.hash), {}, { fastFirst: true });
    expect(servers.fastAnswers() - before).toBe(1);
    expect(hono.status).toBe(503);
    expect(JSON.parse(Buffer.from(hono.body, "base64").toString())).toMatchObject({ error: "IncompleteNar" });
    expect(fast).toEqual({ ...hono, requestId: fast.requestId });
  });

  it("a NAR of one batch read on the main thread once hot: same bytes, and damage still fails closed", async () => {
    for (let i = 0; i < 2; i++) {
      const { hono, fast } = await servers.both(nar("pub", hot.hash), {});
      expect(fast.status).toBe(200);
      expect(fast).toEqual({ ...hono, requestId: fast.requestId });
    }
    await truncate(hotFiles[hotFiles.length - 1] as string, 100);
    const { hono, fast } = await servers.both(nar("pub", hot.hash), {}, { fastFirst: true });
    expect(hono.status).toBe(503);
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

  itCountsAsHono(
    () => t,
    () => servers,
    "/:cache/nar/:file",
    () => nar("pub", fixture.pub.hash),
  );
});
