/**
 * Reads fail closed on damaged chunk files, and a re-upload repairs them, against the real process
 * (embedded database and Postgres, local storage, compression none so chunk files are NAR bytes):
 *
 *   - a chunk file truncated to 0 bytes (what a crash before the data reached the disk leaves):
 *     the NAR download is a 503 `IncompleteNar` before any body, never a 200 with wrong bytes; the
 *     chunk is marked, so pushing the same path to another cache stores a good copy instead of
 *     deduplicating against the damaged one, and pushing it again to the first cache repairs it;
 *   - a chunk file that grew after it was last checked, in the middle of a NAR: the download is cut
 *     before the body completes (or refused with 503), and later downloads are 503 until repaired;
 *   - once a chunk is found damaged, get-missing-paths reports its path missing (atticd would say
 *     present), so a client pushes it again, which repairs it.
 */
import { appendFile, readdir, readFile, truncate } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { atticNarInfo, createCache, makePath, type TestPath } from "./support.ts";

async function chunkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith(".chunk")) out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out.sort();
}

/** The real process runs on its embedded database, and on Postgres when the tier is on. */
const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("damaged chunk files [%s]", (db) => {
  let g: GarretdHandle;
  let storage: string;
  let token: string;
  beforeAll(async () => {
    g = await startGarretd({ db, compression: "none" });
    storage = g.storageDir as string;
    token = g.rootToken;
    for (const name of ["first", "second"]) await createCache(g.url, token, name, false);
  }, 120_000);
  afterAll(() => g?.stop());

  const auth = () => ({ authorization: `Bearer ${token}` });

  async function push(cache: string, p: TestPath): Promise<{ status: number; body: string }> {
    const res = await fetch(`${g.url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: { ...auth(), "x-attic-nar-info": JSON.stringify(atticNarInfo(cache, p)) },
      body: p.nar,
    });
    return { status: res.status, body: await res.text() };
  }

  /** What a NAR download gives: the status, and the body, or "cut" when the connection was cut. */
  async function download(cache: string, p: TestPath): Promise<{ status: number; body: Buffer | "cut" }> {
    const res = await fetch(`${g.url}/${cache}/nar/${p.hash}.nar`, { headers: auth() });
    try {
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    } catch {
      return { status: res.status, body: "cut" };
    }
  }

  async function missing(cache: string, p: TestPath): Promise<boolean> {
    const res = await fetch(`${g.url}/_api/v1/get-missing-paths`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ cache, store_path_hashes: [p.hash] }),
    });
    const body = (await res.json()) as { missing_paths: string[] };
    expect(res.status).toBe(200);
    return body.missing_paths.includes(p.hash);
  }

  async function served(cache: string, p: TestPath): Promise<boolean> {
    const got = await download(cache, p);
    return got.status === 200 && got.body !== "cut" && got.body.equals(p.nar);
  }

  it("a truncated chunk: 503 before the body, then a push to another cache and to the same one repairs it", async () => {
    const p = makePath("truncated", 300_000, 11);
    const before = new Set(await chunkFiles(storage));
    expect((await push("first", p)).status).toBe(200);
    const mine = (await chunkFiles(storage)).filter((f) => !before.has(f));
    expect(mine.length).toBeGreaterThan(1);
    expect(await served("first", p)).toBe(true);

    await truncate(mine[mine.length - 1] as string, 0);
    for (let i = 0; i < 2; i++) {
      const got = await download("first", p);
      expect(got.status).toBe(503);
      expect(JSON.parse(String(got.body))).toMatchObject({ error: "IncompleteNar" });
    }

    const other = await push("second", p);
    expect(other.status).toBe(200);
    expect(other.body).not.toMatch(/Deduplicated/);
    expect(await served("second", p)).toBe(true);
    expect((await download("first", p)).status).toBe(503);

    expect((await push("first", p)).status).toBe(200);
    expect(await served("first", p)).toBe(true);
  }, 60_000);

  it("a chunk that grew after it was checked, mid-NAR: the download never completes with wrong bytes", async () => {
    // ~3 MB: several batch reads, so the last chunk is read after the status line was sent.
    const p = makePath("grown", 3_000_000, 12);
    const before = new Set(await chunkFiles(storage));
    expect((await push("first", p)).status).toBe(200);
    const mine = (await chunkFiles(storage)).filter((f) => !before.has(f));
    expect(await served("first", p)).toBe(true);

    // Compression none: the last chunk's file is the NAR's last bytes.
    let last: string | undefined;
    for (const file of mine) {
      const bytes = await readFile(file);
      if (bytes.length > 0 && p.nar.subarray(p.nar.length - bytes.length).equals(bytes)) last = file;
    }
    expect(last).toBeDefined();
    await appendFile(last as string, Buffer.alloc(100, 0x61));

    const got = await download("first", p);
    expect(got.status === 503 || got.body === "cut").toBe(true);
    expect((await download("first", p)).status).toBe(503);

    expect((await push("first", p)).status).toBe(200);
    expect(await served("first", p)).toBe(true);
  }, 60_000);

  it("a path whose chunk was found damaged is missing for get-missing-paths until pushed again", async () => {
    const p = makePath("reported-missing", 300_000, 13);
    const before = new Set(await chunkFiles(storage));
    expect((await push("first", p)).status).toBe(200);
    const mine = (await chunkFiles(storage)).filter((f) => !before.has(f));
    expect(await missing("first", p)).toBe(false);

    await truncate(mine[0] as string, 0);
    expect((await download("first", p)).status).toBe(503);
    expect(await missing("first", p)).toBe(true);

    expect((await push("first", p)).status).toBe(200);
    expect(await missing("first", p)).toBe(false);
    expect(await served("first", p)).toBe(true);
  }, 60_000);
});
