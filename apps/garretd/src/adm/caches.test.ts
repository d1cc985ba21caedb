/**
 * `garretadm caches list|show` and `garretadm gc` against a populated database (the in-process test
 * app's SQLite database and storage directory, handed to garretadm in place of opening the configuration's).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { pushNar } from "../../../../test/support/push-nar.ts";
import { type AdmIo, runGarretadm } from "./main.ts";

let t: TestApp;
let files: Record<string, string>;

beforeAll(async () => {
  t = await createTestApp();
  await t.createCache("alpha", { isPublic: true });
  await t.createCache("beta");
  const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
  await pushNar(asRoot, "alpha", { name: "one", contents: "abc ".repeat(5000) });
  await pushNar(asRoot, "alpha", { name: "two", contents: "two" });
  files = {
    "/etc/garret.toml": `[storage]\ntype = "local"\npath = ${JSON.stringify(t.storageDir)}\n[jwt.signing]\ntoken-hs256-secret-base64 = "${Buffer.alloc(32, 1).toString("base64")}"\n`,
  };
});
afterAll(() => t.close());

async function adm(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const io: AdmIo = {
    env: { HOME: "/home/u" },
    readFile: (p) => files[p] ?? "",
    fileExists: (p) => p in files,
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  };
  const openDatabase = async () => ({ ...t.db, close: async () => {} });
  const code = await runGarretadm(["-f", "/etc/garret.toml", ...argv], io, { openDatabase });
  return { code, stdout, stderr };
}

describe("garretadm caches", () => {
  it("lists caches with their sizes", async () => {
    const r = await adm(["caches", "list"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+VISIBILITY\s+PATHS\s+NAR SIZE\s+STORED\s+DEDUP$/);
    expect(lines[1]).toMatch(/^alpha\s+public\s+2\s+\S+ KiB\s+\S+ (B|KiB)\s+\d+\.\d\dx$/);
    expect(lines[2]).toMatch(/^beta\s+private\s+0\s+0 B\s+0 B\s+-$/);

    const json = JSON.parse((await adm(["caches", "list", "--json"])).stdout) as Array<
      Record<string, unknown>
    >;
    expect(json.map((c) => c.name)).toEqual(["alpha", "beta"]);
    const alpha = json[0] as {
      objects: number;
      nar_bytes: number;
      stored_bytes: number;
      dedup_ratio: number;
    };
    expect(alpha.objects).toBe(2);
    expect(alpha.nar_bytes).toBeGreaterThan(20_000);
    expect(alpha.stored_bytes).toBeGreaterThan(0);
    expect(alpha.stored_bytes).toBeLessThan(alpha.nar_bytes);
    expect(alpha.dedup_ratio).toBeGreaterThan(1);
  });

  it("shows one cache, and fails for a missing one", async () => {
    const r = await adm(["caches", "show", "alpha"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^name: +alpha$/m);
    expect(r.stdout).toMatch(/^visibility: +public$/m);
    expect(r.stdout).toMatch(/^paths: +2$/m);
    const missing = await adm(["caches", "show", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no cache named "nope"');
    expect((await adm(["caches"])).code).toBe(2);
    expect((await adm(["caches", "show"])).code).toBe(2);
  });
});

describe("garretadm gc", () => {
  it("runs one collection, or reports what a dry run would delete", async () => {
    const dry = await adm(["gc", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^garbage collection dry run: 0 objects/);
    const run = await adm(["gc"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^garbage collection: deleted 0 objects, \d+ NARs, \d+ chunks/);
    expect((await adm(["caches", "list", "--json"])).stdout).toContain('"objects": 2');
    expect((await adm(["gc", "--bogus"])).code).toBe(2);
  });
});
