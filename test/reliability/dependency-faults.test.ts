/**
 * Dependency faults against the real garretd process, through a fault-injecting TCP proxy:
 *   - S3 (s3rver) stopped (connections reset), hung (no answer; storage-request-timeout 3 s) and
 *     slow, during uploads and downloads;
 *   - Postgres cut off (proxy in front of the shared test server; that server is never restarted).
 * While a dependency is down, garretd answers 503 JSON within a bounded time; it recovers by itself,
 * and everything acknowledged before, during and after is served and verifies.
 * A chunk file that vanishes from storage gives 503 `IncompleteNar` before any body byte.
 */
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { FaultProxy } from "./fault-proxy.ts";
import {
  createCache,
  makePath,
  openHandleDb,
  pool,
  putPath,
  servedState,
  storeState,
  type TestPath,
} from "./support.ts";

/** Status, error kind and time of one request; a request that hangs fails the test at 20 s. */
async function timed(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; error?: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: res.status, error, ms: performance.now() - started };
}

function uploadInit(token: string, cache: string, p: TestPath): RequestInit {
  return {
    method: "PUT",
    headers: {
      authorization: `Bearer ${token}`,
      "x-attic-nar-info": JSON.stringify({
        cache,
        store_path_hash: p.hash,
        store_path: p.storePath,
        references: [],
        system: null,
        deriver: null,
        sigs: [],
        ca: null,
        nar_hash: p.narHash,
        nar_size: p.nar.length,
      }),
    },
    body: p.nar,
  };
}

describe("S3 stopped, hung and slow (sqlite + s3rver behind a proxy)", () => {
  let g: GarretdHandle;
  let proxy: FaultProxy;
  const acked: TestPath[] = [];

  beforeAll(async () => {
    g = await startGarretd({
      db: "sqlite",
      storage: "s3",
      extraToml: '[garret]\nstorage-request-timeout = "3s"\n',
      s3Endpoint: async (endpoint) => {
        const u = new URL(endpoint);
        proxy = await FaultProxy.start({ host: u.hostname, port: Number(u.port) });
        return `http://127.0.0.1:${proxy.port}`;
      },
      // Several chunks per NAR, so downloads stream through garretd rather than redirect.
      chunking: { narSizeThreshold: 1, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
    });
    await createCache(g.url, g.rootToken, "s3faults");
    for (let i = 0; i < 4; i++) {
      const p = makePath(`s3-before-${i}`, 400_000, 300 + i);
      expect(await putPath(g.url, g.rootToken, "s3faults", p)).toBe(200);
      acked.push(p);
    }
  });
  afterAll(async () => {
    await g?.stop();
    await proxy?.close();
  });

  for (const mode of ["refuse", "blackhole"] as const) {
    it(`${mode}: downloads and uploads get 503 JSON in bounded time; lookups still work`, async () => {
      proxy.set(mode);
      try {
        const nar = await timed(`${g.url}/s3faults/nar/${(acked[0] as TestPath).hash}.nar`);
        expect(nar).toMatchObject({ status: 503, error: "ServiceUnavailable" });
        // Content no earlier upload had, so the upload needs storage (a duplicate would not).
        const seed = mode === "refuse" ? 400 : 401;
        const fresh = makePath(`s3-during-${mode}`, 300_000, seed);
        const up = await timed(`${g.url}/_api/v1/upload-path`, uploadInit(g.rootToken, "s3faults", fresh));
        expect(up).toMatchObject({ status: 503, error: "ServiceUnavailable" });
        expect(Math.max(nar.ms, up.ms)).toBeLessThan(30_000);
        expect((await timed(`${g.url}/s3faults/${(acked[0] as TestPath).hash}.narinfo`)).status).toBe(200);
        expect(await servedState(g.url, "s3faults", fresh)).toBe("absent");
      } finally {
        proxy.set("pass");
      }
      // Back by itself: the same upload now succeeds, and everything verifies.
      const again = makePath(`s3-during-${mode}`, 300_000, mode === "refuse" ? 400 : 401);
      expect(await putPath(g.url, g.rootToken, "s3faults", again)).toBe(200);
      acked.push(again);
      for (const p of acked) expect(await servedState(g.url, "s3faults", p)).toBe("ok");
    });
  }

  it("slow S3 (every packet delayed 1 ms): concurrent uploads and downloads all succeed", async () => {
    proxy.set("pass", 1);
    try {
      const paths = Array.from({ length: 6 }, (_, i) => makePath(`s3-slow-${i}`, 300_000, 500 + i));
      const [ups, reads] = await Promise.all([
        pool(paths, 3, (p) => putPath(g.url, g.rootToken, "s3faults", p)),
        pool(acked, 3, (p) => servedState(g.url, "s3faults", p)),
      ]);
      expect(ups).toEqual(paths.map(() => 200));
      expect(reads).toEqual(acked.map(() => "ok"));
      acked.push(...paths);
    } finally {
      proxy.set("pass");
    }
    for (const p of acked) expect(await servedState(g.url, "s3faults", p)).toBe("ok");
  });

  it("a dead bucket in the middle of a busy upload stream loses nothing acknowledged", async () => {
    const paths = Array.from({ length: 16 }, (_, i) => makePath(`s3-flap-${i}`, 250_000, 600 + i));
    const flapping = (async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 300));
        proxy.set("refuse");
        await new Promise((r) => setTimeout(r, 300));
        proxy.set("pass");
      }
    })();
    const statuses = await pool(paths, 4, (p) => putPath(g.url, g.rootToken, "s3faults", p));
    await flapping;
    proxy.set("pass");
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    for (const [i, p] of paths.entries()) {
      const state = await servedState(g.url, "s3faults", p);
      if (statuses[i] === 200) expect(state, p.storePath).toBe("ok");
      else expect(["absent", "ok"]).toContain(state);
    }
    for (const p of acked) expect(await servedState(g.url, "s3faults", p)).toBe("ok");
  });
});

describe.runIf(postgresTestUrl())("Postgres cut off (postgres behind a proxy + local storage)", () => {
  let g: GarretdHandle;
  let proxy: FaultProxy;
  const acked: TestPath[] = [];

  beforeAll(async () => {
    g = await startGarretd({
      db: "postgres",
      storage: "local",
      postgresUrl: async (url) => {
        const u = new URL(url);
        proxy = await FaultProxy.start({ host: u.hostname, port: Number(u.port || 5432) });
        u.port = String(proxy.port);
        return u.toString();
      },
    });
    await createCache(g.url, g.rootToken, "pgfaults");
  });
  afterAll(async () => {
    await g?.stop();
    await proxy?.close();
  });

  it("answers 503 while the database is unreachable, recovers by itself, loses nothing", async () => {
    for (let i = 0; i < 4; i++) {
      const p = makePath(`pg-before-${i}`, 300_000, 700 + i);
      expect(await putPath(g.url, g.rootToken, "pgfaults", p)).toBe(200);
      acked.push(p);
    }
    // Uploads in flight when the connections are cut, then a database that refuses.
    const inflight = Array.from({ length: 6 }, (_, i) => makePath(`pg-cut-${i}`, 1_500_000, 800 + i));
    const running = pool(inflight, 6, (p) => putPath(g.url, g.rootToken, "pgfaults", p));
    await new Promise((r) => setTimeout(r, 150));
    proxy.set("refuse");
    const statuses = await running;
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const lookup = await timed(`${g.url}/pgfaults/${(acked[0] as TestPath).hash}.narinfo`);
    expect(lookup).toMatchObject({ status: 503, error: "ServiceUnavailable" });
    expect(lookup.ms).toBeLessThan(15_000);
    const up = await timed(
      `${g.url}/_api/v1/upload-path`,
      uploadInit(g.rootToken, "pgfaults", makePath("pg-down", 100_000, 900)),
    );
    expect(up).toMatchObject({ status: 503, error: "ServiceUnavailable" });

    proxy.set("pass");
    await expect
      .poll(async () => (await timed(`${g.url}/pgfaults/${(acked[0] as TestPath).hash}.narinfo`)).status, {
        timeout: 15_000,
      })
      .toBe(200);
    inflight.forEach((p, i) => {
      if (statuses[i] === 200) acked.push(p);
    });
    for (const p of acked) expect(await servedState(g.url, "pgfaults", p)).toBe("ok");
    // What got no 200 can be uploaded again.
    for (const [i, p] of inflight.entries()) {
      if (statuses[i] !== 200) expect(await putPath(g.url, g.rootToken, "pgfaults", p)).toBe(200);
    }
    const db = await openHandleDb(g);
    try {
      const state = await storeState(db);
      expect(state.objectsWithoutValidNar).toBe(0);
      expect(state.incompleteNars).toBe(0);
    } finally {
      await db.close();
    }
  });
});

describe("a chunk file that vanishes (sqlite + local storage, fresh server)", () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db: "sqlite", storage: "local" });
    await createCache(g.url, g.rootToken, "vanish");
  });
  afterAll(() => g?.stop());

  it("answers 503 IncompleteNar before any body byte, HEAD and GET alike", async () => {
    const p = makePath("vanishing", 600_000, 950);
    expect(await putPath(g.url, g.rootToken, "vanish", p)).toBe(200);
    await g.stopProcess();
    const db = await openHandleDb(g);
    let name: string;
    try {
      const [row] = await db.withSession((s) =>
        s.query<{ remote_file: string }>("SELECT remote_file FROM chunk ORDER BY id DESC LIMIT 1"),
      );
      name = (JSON.parse(row?.remote_file ?? "{}") as { Local: { name: string } }).Local.name;
    } finally {
      await db.close();
    }
    await unlink(join(g.storageDir as string, name[0] as string, name.slice(0, 2), name));
    await g.startProcess();
    for (const method of ["GET", "HEAD"]) {
      const res = await fetch(`${g.url}/vanish/nar/${p.hash}.nar`, { method });
      expect(res.status).toBe(503);
      if (method === "GET") expect(await res.json()).toMatchObject({ error: "IncompleteNar" });
    }
  });
});
