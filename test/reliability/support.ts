/**
 * Shared pieces of the reliability suite: deterministic test paths (NAR bytes, store path, attic
 * NAR info), uploads over the attic API, end-to-end verification of what a cache serves, and the
 * storage invariants checked in SQL after faults:
 *
 *   - every object points at a valid NAR;
 *   - every valid NAR has exactly `num_chunks` chunkrefs, none of them dangling, all to valid chunks;
 *   - every valid chunk's file exists in storage;
 *   - after a completed GC: no pending/tombstoned rows, no leases, no chunk nobody references and no
 *     file without a chunk row (what is stored is exactly what is reclaimable).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createDb, type Db } from "@garret/db";
import { toNixBase32 } from "@garret/nix";
import type { UploadPathNarInfo } from "@garret/protocol";
import { expect } from "vitest";
import { lcgBytes, makeNar } from "../support/nar.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

export interface TestPath {
  hash: string;
  storePath: string;
  nar: Buffer;
  narHash: string;
}

/** A store path hash derived from `label`, so runs are reproducible. */
export function storePathHash(label: string): string {
  const bytes = createHash("sha256").update(label).digest();
  let s = "";
  for (let i = 0; i < 32; i++) s += NIX32[(bytes[i] as number) % 32];
  return s;
}

/**
 * A path whose NAR holds `size` pseudo-random bytes from `seed`; paths with the same `shared`
 * seed begin with the same 256 KiB, so their first chunks are deduplicated against each other.
 */
export function makePath(label: string, size: number, seed: number, shared?: number): TestPath {
  const body =
    shared === undefined
      ? lcgBytes(size, seed)
      : Buffer.concat([lcgBytes(262_144, shared), lcgBytes(Math.max(0, size - 262_144), seed)]);
  const nar = makeNar({
    type: "directory",
    entries: { bin: { type: "regular", contents: body, executable: true } },
  });
  const hash = storePathHash(label);
  return {
    hash,
    storePath: `/nix/store/${hash}-${label.replace(/[^a-zA-Z0-9+._?=-]/g, "-")}`,
    nar,
    narHash: `sha256:${createHash("sha256").update(nar).digest("hex")}`,
  };
}

export function atticNarInfo(cache: string, p: TestPath): UploadPathNarInfo {
  return narInfoForNar(cache, p.nar, { hash: p.hash, store_path: p.storePath });
}

/** Uploads over the attic API; resolves to the status, or to null when the connection failed. */
export async function putPath(
  url: string,
  token: string,
  cache: string,
  p: TestPath,
): Promise<number | null> {
  try {
    const res = await fetch(`${url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "x-attic-nar-info": JSON.stringify(atticNarInfo(cache, p)),
      },
      body: p.nar,
      signal: AbortSignal.timeout(120_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/**
 * Uploads a path the way `nix copy --to http://…?compression=none` does: the NAR to
 * `nar/<filehash>.nar`, then its narinfo, with the token as the Basic password. The status of the
 * narinfo PUT is the acknowledgement; null when a connection was cut.
 */
export async function putPathNixCopy(
  url: string,
  token: string,
  cache: string,
  p: TestPath,
): Promise<number | null> {
  const nix32 = toNixBase32(Buffer.from(p.narHash.slice("sha256:".length), "hex"));
  const headers = { authorization: `Basic ${Buffer.from(`:${token}`).toString("base64")}` };
  try {
    const nar = await fetch(`${url}/${cache}/nar/${nix32}.nar`, {
      method: "PUT",
      headers: { ...headers, "content-type": "application/x-nix-nar" },
      body: p.nar,
      signal: AbortSignal.timeout(120_000),
    });
    await nar.arrayBuffer();
    if (nar.status !== 200 && nar.status !== 204) return nar.status;
    const narinfo = [
      `StorePath: ${p.storePath}`,
      `URL: nar/${nix32}.nar`,
      "Compression: none",
      `FileHash: sha256:${nix32}`,
      `FileSize: ${p.nar.length}`,
      `NarHash: sha256:${nix32}`,
      `NarSize: ${p.nar.length}`,
      "References: ",
      "",
    ].join("\n");
    const res = await fetch(`${url}/${cache}/${p.hash}.narinfo`, {
      method: "PUT",
      headers: { ...headers, "content-type": "text/x-nix-narinfo" },
      body: narinfo,
      signal: AbortSignal.timeout(120_000),
    });
    await res.arrayBuffer();
    return res.status === 204 ? 200 : res.status;
  } catch {
    return null;
  }
}

export async function createCache(url: string, token: string, name: string, isPublic = true): Promise<void> {
  const res = await fetch(`${url}/_api/v1/cache-config/${name}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      keypair: "Generate",
      is_public: isPublic,
      store_dir: "/nix/store",
      priority: 41,
      upstream_cache_key_names: [],
    }),
  });
  if (res.status !== 200) throw new Error(`creating cache ${name}: ${res.status} ${await res.text()}`);
}

/** What the cache serves for `p`: "absent" (404), "ok" (narinfo and NAR verify) or a failure text. */
export async function servedState(url: string, cache: string, p: TestPath, token?: string): Promise<string> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const info = await fetch(`${url}/${cache}/${p.hash}.narinfo`, { headers });
  const text = await info.text();
  if (info.status === 404) return "absent";
  if (info.status !== 200) return `narinfo ${info.status}: ${text}`;
  const narUrl = /^URL: (.*)$/m.exec(text)?.[1];
  const narHash = /^NarHash: (.*)$/m.exec(text)?.[1];
  if (!narUrl || !narHash) return `narinfo without URL or NarHash: ${text}`;
  const nar = await fetch(`${url}/${cache}/${narUrl}`, { headers });
  if (nar.status !== 200) return `nar ${nar.status}: ${await nar.text()}`;
  const body = Buffer.from(await nar.arrayBuffer());
  const plain = /^Compression: zstd$/m.test(text) ? zstdDecompressSync(body) : body;
  const got = `sha256:${createHash("sha256").update(plain).digest("hex")}`;
  return got === p.narHash ? "ok" : `nar hash ${got}, expected ${p.narHash}`;
}

/** Opens the database of a garretd handle (the embedded SQLite file only while its process is stopped). */
export async function openHandleDb(g: { databaseUrl?: string; dataDir: string }): Promise<Db> {
  return g.databaseUrl
    ? createDb({ kind: "postgres", url: g.databaseUrl, poolSize: 2 })
    : createDb({ kind: "sqlite", path: join(g.dataDir, "server.db") });
}

export interface StoreState {
  objects: number;
  nars: number;
  chunks: number;
  pendingNars: number;
  pendingOrDeletedChunks: number;
  heldNars: number;
  heldChunks: number;
  /** Valid chunks no chunkref uses. */
  unreferencedChunks: number;
  /** Objects whose NAR is not valid. */
  objectsWithoutValidNar: number;
  /** Valid NARs whose chunkrefs are not exactly `num_chunks` valid chunks. */
  incompleteNars: number;
  /** Storage names of valid chunks. */
  validChunkFiles: string[];
  /** Storage names of every chunk row. */
  allChunkFiles: string[];
}

async function count(db: Db, sql: string): Promise<number> {
  const [row] = await db.withSession((s) => s.query<{ n: number | string }>(sql));
  return Number(row?.n ?? 0);
}

function fileName(remoteFile: string): string {
  const parsed = JSON.parse(remoteFile) as { Local?: { name: string }; S3?: { key: string } };
  return parsed.Local?.name ?? parsed.S3?.key ?? remoteFile;
}

export async function storeState(db: Db): Promise<StoreState> {
  const files = await db.withSession((s) =>
    s.query<{ remote_file: string; state: string }>("SELECT remote_file, state FROM chunk"),
  );
  return {
    objects: await count(db, "SELECT count(*) AS n FROM object"),
    nars: await count(db, "SELECT count(*) AS n FROM nar"),
    chunks: await count(db, "SELECT count(*) AS n FROM chunk"),
    pendingNars: await count(db, "SELECT count(*) AS n FROM nar WHERE state <> 'V'"),
    pendingOrDeletedChunks: await count(db, "SELECT count(*) AS n FROM chunk WHERE state <> 'V'"),
    heldNars: await count(db, "SELECT count(*) AS n FROM nar WHERE holders_count <> 0"),
    heldChunks: await count(db, "SELECT count(*) AS n FROM chunk WHERE holders_count <> 0"),
    unreferencedChunks: await count(
      db,
      "SELECT count(*) AS n FROM chunk c WHERE NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id)",
    ),
    objectsWithoutValidNar: await count(
      db,
      "SELECT count(*) AS n FROM object o LEFT JOIN nar n ON n.id = o.nar_id WHERE n.id IS NULL OR n.state <> 'V'",
    ),
    incompleteNars: await count(
      db,
      `SELECT count(*) AS n FROM nar n WHERE n.state = 'V' AND (
         n.num_chunks <> (SELECT count(*) FROM chunkref r JOIN chunk c ON c.id = r.chunk_id
                          WHERE r.nar_id = n.id AND c.state = 'V')
         OR EXISTS (SELECT 1 FROM chunkref r WHERE r.nar_id = n.id AND r.chunk_id IS NULL))`,
    ),
    validChunkFiles: files
      .filter((f) => f.state === "V")
      .map((f) => fileName(f.remote_file))
      .sort(),
    allChunkFiles: files.map((f) => fileName(f.remote_file)).sort(),
  };
}

/** Invariants that hold at every moment, crash or not. */
export function expectConsistent(state: StoreState, files: readonly string[]): void {
  expect(state.objectsWithoutValidNar, "objects pointing at a NAR that is not valid").toBe(0);
  expect(state.incompleteNars, "valid NARs missing chunks").toBe(0);
  const present = new Set(files);
  expect(
    state.validChunkFiles.filter((f) => !present.has(f)),
    "valid chunks whose file is missing",
  ).toEqual([]);
}

/** After a completed GC: nothing pending, held or unreferenced, and storage = chunk rows exactly. */
export function expectFullyCollected(state: StoreState, files: readonly string[]): void {
  expectConsistent(state, files);
  expect(
    {
      pendingNars: state.pendingNars,
      pendingOrDeletedChunks: state.pendingOrDeletedChunks,
      heldNars: state.heldNars,
      heldChunks: state.heldChunks,
      unreferencedChunks: state.unreferencedChunks,
    },
    "rows GC should have reclaimed",
  ).toEqual({ pendingNars: 0, pendingOrDeletedChunks: 0, heldNars: 0, heldChunks: 0, unreferencedChunks: 0 });
  expect([...files].sort(), "storage files vs chunk rows").toEqual(state.allChunkFiles);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
