/**
 * `garretadm check` against a store with one chunk file deleted and another corrupted: it names the
 * broken NARs and their store paths and exits 1; `--repair` removes them from the index, after which
 * those paths are missing (so clients upload them again), re-uploads do not deduplicate against
 * the bad chunks, healthy paths are untouched and the next check is clean.
 */
import { createHash } from "node:crypto";
import { readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brotliCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GarretdHandle, runGarretadm, startGarretd } from "../support/garretd.ts";
import { zstdDecompressSync } from "../support/zstd.ts";
import { createCache, makePath, openHandleDb, putPath, servedState } from "./support.ts";

function pathOf(g: GarretdHandle, name: string): string {
  return join(g.storageDir as string, name[0] as string, name.slice(0, 2), name);
}

describe("garretadm check (sqlite + local storage)", () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db: "sqlite", storage: "local" });
    await createCache(g.url, g.rootToken, "integrity");
  });
  afterAll(() => g?.stop());

  it("reports missing and corrupt chunks, repairs the index, and paths can be uploaded again", async () => {
    const healthy = makePath("integrity-ok", 300_000, 61);
    const missing = makePath("integrity-missing", 300_000, 62);
    const corrupt = makePath("integrity-corrupt", 300_000, 63);
    for (const p of [healthy, missing, corrupt])
      expect(await putPath(g.url, g.rootToken, "integrity", p)).toBe(200);
    await g.stopProcess();

    const db = await openHandleDb(g);
    const firstChunkOf = async (hash: string) => {
      const [row] = await db.withSession((s) =>
        s.query<{ remote_file: string }>(
          `SELECT c.remote_file FROM object o JOIN chunkref r ON r.nar_id = o.nar_id JOIN chunk c ON c.id = r.chunk_id
           WHERE o.store_path_hash = $1 ORDER BY r.seq LIMIT 1`,
          [hash],
        ),
      );
      return (JSON.parse(row?.remote_file ?? "{}") as { Local: { name: string } }).Local.name;
    };
    const gone = await firstChunkOf(missing.hash);
    const bad = await firstChunkOf(corrupt.hash);
    await db.close();
    await unlink(pathOf(g, gone));
    await writeFile(pathOf(g, bad), "not the chunk that was stored");

    const report = await runGarretadm(g, ["check"]);
    expect(report.code, report.stderr).toBe(1);
    expect(report.stdout).toMatch(/missing/);
    expect(report.stdout).toMatch(/corrupt \(file hash sha256:[0-9a-f]{64}, recorded sha256:[0-9a-f]{64}\)/);
    expect(report.stdout).toContain(`integrity/${missing.storePath}`);
    expect(report.stdout).toContain(`integrity/${corrupt.storePath}`);
    expect(report.stdout).not.toContain(healthy.storePath);
    expect(report.stdout).toMatch(/2 broken NARs, 2 bad chunks/);

    const quick = await runGarretadm(g, ["check", "--quick"]);
    expect(quick.code).toBe(1);
    expect(quick.stdout).toMatch(/1 broken NAR, 1 bad chunk/);

    const repaired = await runGarretadm(g, ["check", "--repair"]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toMatch(/repaired: removed 2 NARs/);
    expect((await runGarretadm(g, ["check"])).stdout).toMatch(/0 broken NARs, 0 bad chunks/);

    await g.startProcess();
    expect(await servedState(g.url, "integrity", healthy)).toBe("ok");
    expect(await servedState(g.url, "integrity", missing)).toBe("absent");
    expect(await servedState(g.url, "integrity", corrupt)).toBe("absent");
    const missingPaths = await fetch(`${g.url}/_api/v1/get-missing-paths`, {
      method: "POST",
      headers: { authorization: `Bearer ${g.rootToken}` },
      body: JSON.stringify({
        cache: "integrity",
        store_path_hashes: [healthy.hash, missing.hash, corrupt.hash],
      }),
    });
    expect(((await missingPaths.json()) as { missing_paths: string[] }).missing_paths.sort()).toEqual(
      [missing.hash, corrupt.hash].sort(),
    );
    for (const p of [missing, corrupt]) {
      expect(await putPath(g.url, g.rootToken, "integrity", p)).toBe(200);
      expect(await servedState(g.url, "integrity", p)).toBe("ok");
    }
  });
});

describe("garretadm check decodes whole NARs (sqlite + local storage)", () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db: "sqlite", storage: "local" });
    await createCache(g.url, g.rootToken, "decode");
  });
  afterAll(() => g?.stop());

  it("finds a NAR stored as several brotli chunks, each sound, that no client can decode", async () => {
    const healthy = makePath("decode-ok", 300_000, 71);
    const damaged = makePath("decode-brotli", 300_000, 72);
    for (const p of [healthy, damaged]) expect(await putPath(g.url, g.rootToken, "decode", p)).toBe(200);
    await g.stopProcess();

    // What atticd (and garret's nix copy --to path before it had one chunking policy) stored under
    // `[compression] type = "brotli"`: every chunk its own brotli stream, each file matching its hash.
    const db = await openHandleDb(g);
    const chunks = await db.withSession((s) =>
      s.query<{ id: number; nar_id: number; remote_file: string }>(
        `SELECT c.id, r.nar_id, c.remote_file FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
         JOIN chunk c ON c.id = r.chunk_id WHERE o.store_path_hash = $1 ORDER BY r.seq`,
        [damaged.hash],
      ),
    );
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      const file = pathOf(g, (JSON.parse(c.remote_file) as { Local: { name: string } }).Local.name);
      const brotli = brotliCompressSync(zstdDecompressSync(await readFile(file)));
      await writeFile(file, brotli);
      await db.withSession((s) =>
        s.query("UPDATE chunk SET compression = 'br', file_hash = $2, file_size = $3 WHERE id = $1", [
          c.id,
          `sha256:${createHash("sha256").update(brotli).digest("hex")}`,
          brotli.length,
        ]),
      );
    }
    await db.withSession((s) =>
      s.query("UPDATE nar SET compression = 'br' WHERE id = $1", [chunks[0]?.nar_id]),
    );
    await db.close();

    const report = await runGarretadm(g, ["check"]);
    expect(report.code, report.stdout + report.stderr).toBe(1);
    expect(report.stdout).toMatch(
      /decodes to \d+ bytes hashing to sha256:[0-9a-f]{64}, expected 30\d+ bytes|does not decode as br/,
    );
    expect(report.stdout).toContain(`decode/${damaged.storePath}`);
    expect(report.stdout).not.toContain(healthy.storePath);
    expect(report.stdout).toMatch(/1 broken NAR, 0 bad chunks/);

    const repaired = await runGarretadm(g, ["check", "--repair"]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect((await runGarretadm(g, ["check"])).stdout).toMatch(/0 broken NARs, 0 bad chunks/);

    await g.startProcess();
    expect(await servedState(g.url, "decode", healthy)).toBe("ok");
    expect(await servedState(g.url, "decode", damaged)).toBe("absent");
    expect(await putPath(g.url, g.rootToken, "decode", damaged)).toBe(200);
    expect(await servedState(g.url, "decode", damaged)).toBe("ok");
  });
});
