/**
 * Crash safety of the real garretd process: SIGKILL in the middle of many concurrent uploads and in
 * the middle of a GC run, then a restart. Every upload that got a 200 is served and verifies, paths
 * whose upload never got an answer are absent or complete, the store invariants hold at once, and
 * one GC run (pending grace shortened to 1 s) reclaims every leftover row, lease and file.
 * SIGTERM lets an in-flight upload finish and exits 0.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageFileNames } from "../support/cache-api.ts";
import { GARRETD_BIN, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import {
  atticNarInfo,
  createCache,
  expectConsistent,
  expectFullyCollected,
  makePath,
  openHandleDb,
  pool,
  putPath,
  putPathNixCopy,
  servedState,
  storeState,
  type TestPath,
} from "./support.ts";

const db = postgresTestUrl() ? "postgres" : "sqlite";
const GRACE = '[garret]\ngc-pending-grace = "1s"\n';

async function withDb<T>(
  g: GarretdHandle,
  fn: (state: Awaited<ReturnType<typeof storeState>>) => T,
): Promise<T> {
  const handle = await openHandleDb(g);
  try {
    return fn(await storeState(handle));
  } finally {
    await handle.close();
  }
}

/** The embedded SQLite database allows one process: the collector runs while the server is stopped. */
async function collect(g: GarretdHandle): Promise<void> {
  // Leases and pending rows must be older than the 1 s grace period.
  await new Promise((r) => setTimeout(r, 1100));
  const gc = await g.runMode("garbage-collector-once");
  expect(gc.code, gc.stderr + gc.stdout).toBe(0);
}

describe(`SIGKILL during uploads and GC (${db} + local storage)`, () => {
  let g: GarretdHandle;
  const acked: TestPath[] = [];
  const unacked: TestPath[] = [];

  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local", extraToml: GRACE });
    await createCache(g.url, g.rootToken, "crash");
  });
  afterAll(() => g?.stop());

  it("keeps every acknowledged upload and serves nothing half-written after a SIGKILL", async () => {
    // 48 paths, 0.2-2.5 MB, a third sharing their first chunks so leases on reused chunks are held.
    const paths = Array.from({ length: 48 }, (_, i) =>
      makePath(`crash-${i}`, 200_000 + ((i * 397_151) % 2_300_000), 1000 + i, i % 3 === 0 ? 7 : undefined),
    );
    let done = 0;
    let killed = false;
    const killAt = 12;
    const statuses = await pool(paths, 12, async (p) => {
      if (killed) return null;
      const status = await putPath(g.url, g.rootToken, "crash", p);
      if (status === 200) done++;
      if (done >= killAt && !killed) {
        killed = true;
        await g.kill("SIGKILL");
      }
      return status;
    });
    expect(killed).toBe(true);
    paths.forEach((p, i) => {
      if (statuses[i] === 200) acked.push(p);
      else unacked.push(p);
    });
    expect(
      statuses.filter((s) => s !== 200 && s !== null),
      "only 200 or a cut connection",
    ).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(killAt);
    expect(unacked.length).toBeGreaterThan(0);

    // What the killed process left behind, before anything else touches it.
    const left = await withDb(g, (s) => s);
    expectConsistent(left, await storageFileNames(g.storageDir as string));

    await g.startProcess();
    for (const p of acked) expect(await servedState(g.url, "crash", p), p.storePath).toBe("ok");
    let completed = 0;
    for (const p of unacked) {
      const state = await servedState(g.url, "crash", p);
      expect(["absent", "ok"], `${p.storePath}: ${state}`).toContain(state);
      if (state === "ok") completed++;
    }
    // Retrying every upload that got no answer succeeds (dedup or fresh).
    const retried = await pool(unacked, 6, (p) => putPath(g.url, g.rootToken, "crash", p));
    expect(retried.every((s) => s === 200)).toBe(true);
    for (const p of unacked) expect(await servedState(g.url, "crash", p)).toBe("ok");
    acked.push(...unacked.splice(0));
    void completed;

    await g.stopProcess();
    await collect(g);
    const after = await withDb(g, (s) => s);
    expectFullyCollected(after, await storageFileNames(g.storageDir as string));
    await g.startProcess();
    for (const p of acked) expect(await servedState(g.url, "crash", p), p.storePath).toBe("ok");
  });

  it("keeps every acknowledged `nix copy --to` upload after a SIGKILL, and GC reaps the pending rest", async () => {
    await createCache(g.url, g.rootToken, "nixcopy");
    const paths = Array.from({ length: 32 }, (_, i) =>
      makePath(`nixcopy-${i}`, 150_000 + ((i * 283_117) % 1_800_000), 3000 + i, i % 4 === 0 ? 9 : undefined),
    );
    let done = 0;
    let killed = false;
    const statuses = await pool(paths, 8, async (p) => {
      if (killed) return null;
      const status = await putPathNixCopy(g.url, g.rootToken, "nixcopy", p);
      if (status === 200) done++;
      if (done >= 8 && !killed) {
        killed = true;
        await g.kill("SIGKILL");
      }
      return status;
    });
    expect(killed).toBe(true);
    expect(
      statuses.filter((s) => s !== 200 && s !== null),
      "only 200 or a cut connection",
    ).toEqual([]);
    const nixAcked = paths.filter((_, i) => statuses[i] === 200);
    const nixCut = paths.filter((_, i) => statuses[i] !== 200);
    expect(nixAcked.length).toBeGreaterThanOrEqual(8);
    expect(nixCut.length).toBeGreaterThan(0);
    expectConsistent(await withDb(g, (s) => s), await storageFileNames(g.storageDir as string));

    await g.startProcess();
    for (const p of nixAcked) expect(await servedState(g.url, "nixcopy", p), p.storePath).toBe("ok");
    for (const p of nixCut) {
      expect(["absent", "ok"], p.storePath).toContain(await servedState(g.url, "nixcopy", p));
    }
    await g.stopProcess();
    await collect(g);
    expectFullyCollected(await withDb(g, (s) => s), await storageFileNames(g.storageDir as string));
    await g.startProcess();
    for (const p of nixAcked) expect(await servedState(g.url, "nixcopy", p), p.storePath).toBe("ok");
  });

  it("a collector killed mid-run leaves a consistent store that the next run finishes", async () => {
    // Garbage: a cache full of paths, destroyed; survivors in "crash" must not be touched.
    await createCache(g.url, g.rootToken, "doomed");
    const doomed = Array.from({ length: 30 }, (_, i) => makePath(`doomed-${i}`, 600_000, 5000 + i));
    const up = await pool(doomed, 6, (p) => putPath(g.url, g.rootToken, "doomed", p));
    expect(up.every((s) => s === 200)).toBe(true);
    const del = await fetch(`${g.url}/_api/v1/cache-config/doomed`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${g.rootToken}` },
    });
    expect(del.status).toBe(200);
    await g.stopProcess();

    const env = { ...process.env, GARRET_DATA_DIR: g.dataDir, HOME: g.dataDir };
    for (const delayMs of [150, 400, 800]) {
      const child = spawn(
        process.execPath,
        [GARRETD_BIN, "-f", g.configPath, "--mode", "garbage-collector-once"],
        {
          env,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      await new Promise<void>((resolve) => {
        const onData = () => {
          if (out.includes("starting garretd")) {
            child.stdout.off("data", onData);
            resolve();
          }
        };
        child.stdout.on("data", onData);
        child.once("exit", () => resolve());
      });
      setTimeout(() => child.kill("SIGKILL"), delayMs);
      await exited;
      const state = await withDb(g, (s) => s);
      expectConsistent(state, await storageFileNames(g.storageDir as string));
    }
    await collect(g);
    expectFullyCollected(await withDb(g, (s) => s), await storageFileNames(g.storageDir as string));
    await g.startProcess();
    for (const p of acked) expect(await servedState(g.url, "crash", p), p.storePath).toBe("ok");
    for (const p of doomed.slice(0, 3)) {
      const res = await fetch(`${g.url}/doomed/${p.hash}.narinfo`, {
        headers: { authorization: `Bearer ${g.rootToken}` },
      });
      expect(res.status).toBe(404);
    }
  });
});

describe(`SIGTERM (${db} + local storage)`, () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local" });
    await createCache(g.url, g.rootToken, "term");
  });
  afterAll(() => g?.stop());

  it("lets an in-flight upload finish, refuses new connections, and exits 0", async () => {
    const p = makePath("sigterm-inflight", 1_500_000, 77);
    const half = Math.floor(p.nar.length / 2);
    const url = new URL(g.url);
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: "/_api/v1/upload-path",
          method: "PUT",
          headers: {
            authorization: `Bearer ${g.rootToken}`,
            "x-attic-nar-info": JSON.stringify(atticNarInfo("term", p)),
            "content-length": String(p.nar.length),
          },
        },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => {
            body += d.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.write(p.nar.subarray(0, half), () => {
        // The server is told to stop while this request is half-way through its body.
        const exit = g.kill("SIGTERM");
        setTimeout(() => req.end(p.nar.subarray(half)), 300);
        exitCode = exit;
      });
    });
    let exitCode: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
    const res = await response;
    expect(res.status, res.body).toBe(200);
    await expect.poll(() => exitCode !== undefined).toBe(true);
    expect(await exitCode).toEqual({ code: 0, signal: null });
    await expect(fetch(`${g.url}/nix-cache-info`)).rejects.toThrow();
    await g.startProcess();
    expect(await servedState(g.url, "term", p)).toBe("ok");
  });
});
