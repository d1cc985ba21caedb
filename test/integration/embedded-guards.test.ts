/**
 * Foot-guns of the embedded database, through the real processes: while garretd holds it,
 * garretadm refuses (naming the process) instead of reading stale data; make-token says why it
 * cannot record a token then, and records it once garretd is stopped; a database without
 * chunk rows over storage that holds chunk files is a loud warning naming both; and a data
 * directory holding the PGlite database of garret before SQLite is refused, not hidden behind a new
 * empty database.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  GARRETADM_BIN,
  GARRETD_BIN,
  type GarretdHandle,
  runGarretadm,
  runNode,
  startGarretd,
} from "../support/garretd.ts";

let g: GarretdHandle;
beforeAll(async () => {
  g = await startGarretd({ db: "sqlite", storage: "local" });
});
afterAll(() => g?.stop());

const garretadm = (args: string[]) => runGarretadm(g, args);

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

describe("a data directory left by garret before SQLite", () => {
  it("garretd and garretadm refuse it, saying how to move, and create nothing", async () => {
    const dataDir = join(g.dataDir, "..", "pglite-era");
    await mkdir(join(dataDir, "db"), { recursive: true });
    await writeFile(join(dataDir, "db", "PG_VERSION"), "17\n");
    const env = { ...process.env, GARRET_DATA_DIR: dataDir, HOME: join(dataDir, "..", "pglite-era-home") };
    const message =
      `${join(dataDir, "db")} holds the embedded PGlite database of an earlier garret, which this garret no longer reads ` +
      `(its embedded database is the SQLite file ${join(dataDir, "server.db")}). Keep running the earlier garret on it, ` +
      `or move its data as README's "Upgrading from the PGlite embedded database" says; to start afresh instead, ` +
      `move ${join(dataDir, "db")} out of the data directory`;

    const garretd = await runNode([GARRETD_BIN, "-f", g.configPath, "--mode", "db-migrations"], env);
    expect(garretd.code).toBe(1);
    expect(garretd.stderr).toContain(`error: ${message}\n`);
    const adm = await runNode([GARRETADM_BIN, "-f", g.configPath, "caches", "list"], env);
    expect(adm).toMatchObject({ code: 1, stderr: `error: ${message}\n` });
    expect(await readdir(dataDir)).toEqual(["db"]);
  });
});
