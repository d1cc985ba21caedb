/**
 * Foot-guns of the embedded database, through the real processes: while garretd holds it,
 * garretadm refuses (naming the process) instead of reading stale data; make-token says why it
 * cannot record a token then, and records it once garretd is stopped; and a database without
 * chunk rows over storage that holds chunk files is a loud warning naming both.
 */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GARRETADM_BIN, type GarretdHandle, startGarretd } from "../support/garretd.ts";

let g: GarretdHandle;
beforeAll(async () => {
  g = await startGarretd({ db: "sqlite", storage: "local" });
});
afterAll(() => g?.stop());

function garretadm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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

describe("the embedded database while garretd runs", () => {
  it("garretadm refuses database commands, naming garretd's process", async () => {
    const pid = g.pid;
    for (const args of [["caches", "list"], ["gc"], ["tokens", "list"], ["check", "--quick"]]) {
      const r = await garretadm(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toBe(
        `error: process ${pid} (garretd) holds the database ${join(g.dataDir, "server.db")}, which allows one process at a time: stop garretd first, or move to PostgreSQL ([database] url) to run garretadm next to it\n`,
      );
    }
  });

  it("make-token mints, says why the token is not recorded, and records it once garretd is stopped", async () => {
    const busy = await garretadm(["make-token", "--sub", "busy", "--validity", "1d", "--pull", "x"]);
    expect(busy.code).toBe(0);
    expect(busy.stdout.trim().split(".")).toHaveLength(3);
    expect(busy.stderr).toMatch(
      /^warning: the token is not recorded \(process \d+ \(garretd\) holds the database .*\); it can only be revoked by subject\n$/,
    );

    await g.stopProcess();
    const recorded = await garretadm(["make-token", "--sub", "quiet", "--validity", "1d", "--pull", "x"]);
    expect(recorded.code).toBe(0);
    expect(recorded.stderr).toBe("");
    const listed = await garretadm(["tokens", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("quiet");
    expect(listed.stdout).not.toContain("busy");
  });

  it("warns loudly at start when the storage holds chunks the database does not record", async () => {
    expect(g.logs()).not.toContain("WARNING");
    const storage = g.storageDir as string;
    const name = "0f6c4b9e-1d2c-4b6a-9e1f-6b1f1c3d2e4a.chunk";
    await mkdir(join(storage, "0", "0f"), { recursive: true });
    await writeFile(join(storage, "0", "0f", name), "left over from another database");
    await g.startProcess();
    const warning = `WARNING: local storage in ${storage} holds chunk files (e.g. ${name}), but the SQLite database ${join(g.dataDir, "server.db")} records no chunks at all`;
    // The banner goes to stderr, which can reach the test after the "listening" line on stdout.
    await vi.waitFor(() => expect(g.logs()).toContain(warning), { timeout: 10_000, interval: 50 });
    expect(g.logs()).toContain('"msg":"storage holds chunks the database does not know"');
  });
});
