/**
 * Concurrency against the real process: the same path uploaded by 20 clients at once into one
 * cache and into several; two garretd processes on one Postgres database and one storage directory
 * with uploads, downloads, cache destruction and GC interleaved. Afterwards the store invariants
 * hold (support.ts), and after a final GC what is stored is exactly what is referenced.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageFileNames } from "../support/cache-api.ts";
import { freePort, GARRETD_BIN, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import {
  createCache,
  expectConsistent,
  expectFullyCollected,
  makePath,
  openHandleDb,
  pool,
  putPath,
  servedState,
  storeState,
} from "./support.ts";

const db = postgresTestUrl() ? "postgres" : "sqlite";

/** garretd's error-level log lines, shown when an upload was not answered 200. */
function errorLines(logs: string): string {
  return logs
    .split("\n")
    .filter((line) => line.includes('"level":"error"') || line.includes('"level":"warn"'))
    .join("\n");
}

describe(`20 clients, one path (${db} + local storage)`, () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local" });
    for (const name of ["same", "multi-0", "multi-1", "multi-2", "multi-3"])
      await createCache(g.url, g.rootToken, name);
  });
  afterAll(() => g?.stop());

  it("into one cache: all succeed, one object, the NAR verifies", async () => {
    const p = makePath("twenty-one", 1_200_000, 41);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => putPath(g.url, g.rootToken, "same", p)),
    );
    expect(statuses, errorLines(g.logs())).toEqual(Array(20).fill(200));
    expect(await servedState(g.url, "same", p)).toBe("ok");
  });

  it("into four caches: all succeed, every cache serves it", async () => {
    const p = makePath("twenty-many", 1_200_000, 42);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => putPath(g.url, g.rootToken, `multi-${i % 4}`, p)),
    );
    expect(statuses, errorLines(g.logs())).toEqual(Array(20).fill(200));
    for (let i = 0; i < 4; i++) expect(await servedState(g.url, `multi-${i}`, p)).toBe("ok");
    await g.stopProcess();
    const handle = await openHandleDb(g);
    try {
      const state = await storeState(handle);
      expectConsistent(state, await storageFileNames(g.storageDir as string));
      const [row] = await handle.withSession((s) =>
        s.query<{ n: number }>("SELECT count(*)::int AS n FROM object WHERE store_path_hash = $1", [p.hash]),
      );
      expect(row?.n).toBe(4);
    } finally {
      await handle.close();
    }
    await g.startProcess();
  });
});

describe.runIf(postgresTestUrl())("two garretd processes on one database and one storage", () => {
  let g: GarretdHandle;
  let second: ChildProcess;
  let url2: string;

  beforeAll(async () => {
    g = await startGarretd({
      db: "postgres",
      storage: "local",
      extraToml: '[garret]\ngc-pending-grace = "1s"\n',
    });
    const port = await freePort();
    url2 = `http://127.0.0.1:${port}`;
    second = spawn(process.execPath, [GARRETD_BIN, "-f", g.configPath, "--listen", `127.0.0.1:${port}`], {
      env: { ...process.env, GARRET_DATA_DIR: g.dataDir, HOME: g.dataDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      second.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes('"msg":"listening"')) resolve();
      });
      second.once("exit", (code) => reject(new Error(`second garretd exited with ${code}: ${out}`)));
    });
    for (const name of ["keep", "drop"]) await createCache(g.url, g.rootToken, name);
  });
  afterAll(async () => {
    if (second && second.exitCode === null) {
      const exited = new Promise((r) => second.once("exit", r));
      second.kill("SIGTERM");
      await exited;
    }
    await g?.stop();
  });

  it("uploads, downloads, cache destroy and GC interleaved keep every invariant", async () => {
    const urls = [g.url, url2];
    // A third of the paths share their first chunks; "drop" and "keep" share some NARs too.
    const keep = Array.from({ length: 24 }, (_, i) =>
      makePath(`two-keep-${i}`, 200_000 + i * 20_000, 2000 + i, i % 3 === 0 ? 9 : undefined),
    );
    const drop = Array.from({ length: 24 }, (_, i) =>
      makePath(
        `two-drop-${i}`,
        200_000 + i * 20_000,
        i % 4 === 0 ? 2000 + i : 3000 + i,
        i % 3 === 0 ? 9 : undefined,
      ),
    );
    const first = await pool(keep.slice(0, 8), 4, (p, i) =>
      putPath(urls[i % 2] as string, g.rootToken, "keep", p),
    );
    expect(first).toEqual(Array(8).fill(200));

    const uploads = pool([...keep.slice(8), ...drop], 6, (p, i) =>
      putPath(urls[i % 2] as string, g.rootToken, p.storePath.includes("two-drop") ? "drop" : "keep", p),
    );
    const reads = pool([...keep.slice(0, 8), ...keep.slice(0, 8)], 4, (p, i) =>
      servedState(urls[i % 2] as string, "keep", p),
    );
    const churn = (async () => {
      await new Promise((r) => setTimeout(r, 400));
      const gcs: Array<Promise<{ code: number }>> = [
        g.runMode("garbage-collector-once"),
        g.runMode("garbage-collector-once"),
      ];
      await new Promise((r) => setTimeout(r, 300));
      const del = await fetch(`${url2}/_api/v1/cache-config/drop`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${g.rootToken}` },
      });
      return { gc: await Promise.all(gcs), deleted: del.status };
    })();
    const [up, rd, ch] = await Promise.all([uploads, reads, churn]);
    expect(rd).toEqual(Array(16).fill("ok"));
    expect(ch.gc.map((r) => r.code)).toEqual([0, 0]);
    expect(ch.deleted).toBe(200);
    // Uploads to "keep" all succeed; those to "drop" succeed or find the cache gone.
    const keepStatuses = up.slice(0, 16);
    expect(keepStatuses).toEqual(Array(16).fill(200));
    for (const s of up.slice(16)) expect([200, 404]).toContain(s);
    for (const [i, p] of keep.entries())
      expect(await servedState(urls[i % 2] as string, "keep", p)).toBe("ok");

    const handle = await openHandleDb(g);
    try {
      expectConsistent(await storeState(handle), await storageFileNames(g.storageDir as string));
      await new Promise((r) => setTimeout(r, 1100));
      const gc = await g.runMode("garbage-collector-once");
      expect(gc.code, gc.stderr).toBe(0);
      expectFullyCollected(await storeState(handle), await storageFileNames(g.storageDir as string));
    } finally {
      await handle.close();
    }
    for (const [i, p] of keep.entries())
      expect(await servedState(urls[(i + 1) % 2] as string, "keep", p)).toBe("ok");
  });
});
