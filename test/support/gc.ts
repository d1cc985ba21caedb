/**
 * Shared by the GC tests: attic-API uploads of synthetic NARs, downloads that verify, a count of
 * the files in local storage, and a GC call with an injected clock.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "@garret/db";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type GcOptions, type GcSummary, runGarbageCollection } from "../../apps/garretd/src/gc/run-gc.ts";
import { silentLogger } from "../../apps/garretd/src/log.ts";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "./app.ts";
import { makeNar } from "./nar.ts";
import { narInfoForNar } from "./upload-info.ts";
import { zstdDecompressSync } from "./zstd.ts";

/**
 * The GC suites' app: in-process garretd on the suite's database with SMALL_CHUNKING, emptied
 * before each test and holding caches `a` and `b` (hooks registered in the calling describe block).
 */
export function useGcApp(getDb: () => Db): () => TestApp {
  let t: TestApp | undefined;
  beforeAll(async () => {
    t = await createTestApp({ db: getDb(), settings: { chunking: SMALL_CHUNKING } });
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    const app = t as TestApp;
    await resetData(app);
    await app.createCache("a");
    await app.createCache("b");
  });
  return () => t as TestApp;
}

export interface Uploaded {
  cache: string;
  hash: string;
  base: string;
  storePath: string;
  nar: Buffer;
}

export interface UploadSpec {
  cache: string;
  nar: Buffer;
  hash?: string;
  name?: string;
  references?: string[];
  body?: Buffer;
}

export async function uploadNar(t: TestApp, u: UploadSpec): Promise<Uploaded & { status: number }> {
  const info = narInfoForNar(u.cache, u.nar, {
    hash: u.hash,
    name: u.name ?? "gc-test",
    references: u.references ?? [],
  });
  const hash = info.store_path_hash;
  const base = `${hash}-${u.name ?? "gc-test"}`;
  const res = await t.request("/_api/v1/upload-path", {
    method: "PUT",
    token: t.rootToken,
    headers: { "x-attic-nar-info": JSON.stringify(info) },
    body: u.body ?? u.nar,
  });
  await res.arrayBuffer();
  return { status: res.status, cache: u.cache, hash, base, storePath: info.store_path, nar: u.nar };
}

/** A NAR holding one file of `contents`. */
export function narOf(contents: Buffer | string): Buffer {
  return makeNar({ type: "directory", entries: { f: { type: "regular", contents } } });
}

export async function narinfoStatus(t: TestApp, cache: string, hash: string): Promise<number> {
  const res = await t.request(`/${cache}/${hash}.narinfo`, { token: t.rootToken });
  await res.arrayBuffer();
  return res.status;
}

/** Downloads the NAR and returns it decompressed, or the HTTP status when it is not 200. */
export async function downloadNar(t: TestApp, cache: string, hash: string): Promise<Buffer | number> {
  const res = await t.request(`/${cache}/nar/${hash}.nar`, { token: t.rootToken });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return res.status;
  }
  return zstdDecompressSync(Buffer.from(await res.arrayBuffer()));
}

/** Files in local storage other than `VERSION`. */
export async function storedFiles(root: string): Promise<string[]> {
  return (await storedPaths(root)).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort();
}

async function storedPaths(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.name !== "VERSION") out.push(join(dir, e.name));
    }
  };
  await walk(root);
  return out;
}

export const DAY = 86_400;

export function gc(t: TestApp, opts: Partial<GcOptions> = {}): Promise<GcSummary> {
  return runGarbageCollection(t.db, t.storage, silentLogger(), {
    defaultRetentionSeconds: 0,
    pendingGraceSeconds: 6 * 3600,
    now: new Date(),
    onObjectsDeleted: () => t.deps.state.objectsChanged(),
    ...opts,
  });
}

/** Moves an object's created_at (and clears last_accessed_at) `seconds` into the past. */
export async function age(t: TestApp, cache: string, hash: string, seconds: number): Promise<void> {
  await t.db.withSession((s) =>
    s.query(
      `UPDATE object SET created_at = $3, last_accessed_at = NULL
       WHERE store_path_hash = $2 AND cache_id = (SELECT id FROM cache WHERE name = $1)`,
      [cache, hash, secondsAgo(seconds)],
    ),
  );
}

/** A timestamp `seconds` before now, as a bound parameter (the same SQL then runs on either engine). */
export function secondsAgo(seconds: number): Date {
  return new Date(Date.now() - seconds * 1000);
}

export async function setRetention(t: TestApp, cache: string, period: number | "Global"): Promise<void> {
  const res = await t.request(`/_api/v1/cache-config/${cache}`, {
    method: "PATCH",
    token: t.rootToken,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ retention_period: period === "Global" ? "Global" : { Period: period } }),
  });
  if (res.status !== 200) throw new Error(`PATCH ${cache}: ${res.status} ${await res.text()}`);
}

/** The `n` column of the first row of `sqlText` (a count: Postgres returns bigint as a string). */
export async function count(t: TestApp, sqlText: string, params: unknown[] = []): Promise<number> {
  const rows = await t.db.withSession((s) => s.query<{ n: unknown }>(sqlText, params));
  return Number(rows[0]?.n ?? 0);
}

/**
 * Empties the cache data tables and storage (all but `VERSION`), so tests can share one app. Deleting
 * caches, NARs and chunks takes every row that references them (ON DELETE CASCADE on both engines).
 */
export async function resetData(t: TestApp): Promise<void> {
  await t.db.withSession(async (s) => {
    for (const table of [
      "cache",
      "nar",
      "chunk",
      "garret_gc_nar_candidate",
      "garret_gc_chunk_candidate",
      "garret_gc_run",
    ]) {
      await s.query(`DELETE FROM ${table}`);
    }
  });
  for (const path of await storedPaths(t.storageDir)) await rm(path, { force: true });
}
