/**
 * `garretadm check` against a store with one chunk file deleted and another corrupted: it names the
 * broken NARs and their store paths and exits 1; `--repair` removes them from the index, after which
 * those paths are missing (so clients upload them again), re-uploads do not deduplicate against
 * the bad chunks, healthy paths are untouched and the next check is clean.
 */
import { spawn } from "node:child_process";
import { unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GARRETADM_BIN, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { createCache, makePath, openHandleDb, putPath, servedState } from "./support.ts";

function garretadm(
  g: GarretdHandle,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [GARRETADM_BIN, "-f", g.configPath, ...args], {
      env: { ...process.env, GARRET_DATA_DIR: g.dataDir, HOME: g.dataDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    proc.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function pathOf(g: GarretdHandle, name: string): string {
  return join(g.storageDir as string, name[0] as string, name.slice(0, 2), name);
}

describe("garretadm check (pglite + local storage)", () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db: "pglite", storage: "local" });
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

    const report = await garretadm(g, ["check"]);
    expect(report.code, report.stderr).toBe(1);
    expect(report.stdout).toMatch(/missing/);
    expect(report.stdout).toMatch(/corrupt \(file hash sha256:[0-9a-f]{64}, recorded sha256:[0-9a-f]{64}\)/);
    expect(report.stdout).toContain(`integrity/${missing.storePath}`);
    expect(report.stdout).toContain(`integrity/${corrupt.storePath}`);
    expect(report.stdout).not.toContain(healthy.storePath);
    expect(report.stdout).toMatch(/2 broken NARs, 2 bad chunks/);

    const quick = await garretadm(g, ["check", "--quick"]);
    expect(quick.code).toBe(1);
    expect(quick.stdout).toMatch(/1 broken NAR, 1 bad chunk/);

    const repaired = await garretadm(g, ["check", "--repair"]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toMatch(/repaired: removed 2 NARs/);
    expect((await garretadm(g, ["check"])).stdout).toMatch(/0 broken NARs, 0 bad chunks/);

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
