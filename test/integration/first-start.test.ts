/**
 * The set-up contract: with no configuration at all, `garretd` writes one (SQLite, local storage, a
 * fresh RS256 key), prints a root token with the `attic login` line, and serves; the printed token
 * creates a cache whose `nix-cache-info` is then served. A second start reuses the written config.
 *
 * And what `npm ci` prepares for those starts, in this one file because it rebuilds the bundle and
 * makes it stale for a moment (no other test depends on which of the two garretd runs): the bundle
 * (apps/garretd/bin/build-bundle.js) is what starts run, not when stale, and it does the work whose
 * code it locates through `import.meta.url`: migrations of a fresh database (`migrations/`), an
 * upload compressed by the compression workers, a multi-megabyte NAR served through the read
 * workers, WAL checkpoints as tasks on the same worker pool as compression, every worker thread
 * from the bundle's worker entries, with an empty compile cache (as the first generation of workers
 * after `npm ci` meets it), stripping no TypeScript; garretadm runs its own bundle.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { currentBundle, manifestPath } from "@garret/cli/bundle";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectSameBytes } from "../support/bytes.ts";
import { createCacheOver } from "../support/cache-api.ts";
import {
  freePort,
  GARRETADM_BIN,
  GARRETD_BIN,
  type GarretdHandle,
  runNode,
  startGarretd,
} from "../support/garretd.ts";
import { lcgBytes, makeNar, randomStorePathHash } from "../support/nar.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const RECORD_MODULE_LOADS = fileURLToPath(new URL("../support/record-module-loads.mjs", import.meta.url));
const FILL_COMPILE_CACHE = fileURLToPath(
  new URL("../../apps/garretd/bin/fill-compile-cache.js", import.meta.url),
);
const BUILD_BUNDLE = fileURLToPath(new URL("../../apps/garretd/bin/build-bundle.js", import.meta.url));
const SOURCES = new URL("../../", import.meta.url).href;
const SQLITE_CLIENT = new URL("../../packages/db/src/sqlite-client.ts", import.meta.url).href;
const POSTGRES_CLIENT = new URL("../../packages/db/src/postgres-client.ts", import.meta.url).href;

const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  // What `npm ci` runs first (the root `prepare` script), so that a bundle of these sources runs.
  const built = await runNode([BUILD_BUNDLE]);
  expect(built.code, built.stderr).toBe(0);
  expect(built.stderr).not.toContain("not built");
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startFresh(
  home: string,
  port: number,
  opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    ...opts.env,
  };
  for (const k of [
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "GARRET_DATA_DIR",
    "ATTIC_SERVER_CONFIG_BASE64",
    "ATTIC_SERVER_DATABASE_URL",
  ]) {
    delete env[k];
  }
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), GARRETD_BIN, "--listen", `127.0.0.1:${port}`],
    {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let out = "";
  let err = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"listening"')) resolve();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) => reject(new Error(`garretd exited with ${code}:\n${out}\n${err}`)));
  });
  return { child, stderr: () => err };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

describe("first start without any configuration", () => {
  it("writes a config, prints the login line, and the root token works", async () => {
    const home = await mkdtemp(join(tmpdir(), "garret-first-start-"));
    dirs.push(home);
    const port = await freePort();
    const { child, stderr } = await startFresh(home, port);

    const line = stderr().match(new RegExp(`attic login local http://localhost:${port} (\\S+)`));
    expect(line, stderr()).not.toBeNull();
    const token = line?.[1] as string;
    // Spelled to work in a new shell: not installed on this PATH, so Node and the launcher, absolute.
    expect(stderr()).toContain(
      `${process.execPath} ${GARRETD_BIN.replace(/garretd\/bin\/garretd\.js$/, "garret/bin/garret.js")} login local http://localhost:${port} ${token}`,
    );

    const configPath = join(home, ".config", "garret", "server.toml");
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    const config = await readFile(configPath, "utf8");
    expect(config).toContain("token-rs256-secret-base64");
    // atticd's first start writes an SQLite URL into its config; so does garret's.
    const dbFile = join(home, ".local", "share", "garret", "server.db");
    expect(config).toMatch(new RegExp(`^url = "sqlite://${dbFile}\\?mode=rwc"$`, "m"));
    expect((await stat(dbFile)).isFile()).toBe(true);

    const base = `http://127.0.0.1:${port}`;
    const created = await fetch(`${base}/_api/v1/cache-config/hello`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        keypair: "Generate",
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: ["cache.nixos.org-1"],
      }),
    });
    expect(created.status).toBe(200);
    const info = await fetch(`${base}/hello/nix-cache-info`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(info.status).toBe(200);
    expect(await info.text()).toBe("WantMassQuery: 1\nStoreDir: /nix/store\nPriority: 41\n");
    await stopChild(child);

    const again = await startFresh(home, port);
    expect(again.stderr()).not.toContain("attic login");
    const still = await fetch(`${base}/hello/nix-cache-info`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(still.status).toBe(200);
    await stopChild(again.child);

    // The root token was minted on the embedded database and recorded there: listed, revocable by jti.
    const jti = (
      JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as { jti?: string }
    ).jti;
    expect(jti).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [GARRETADM_BIN, "tokens", "list"],
        { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: "", XDG_DATA_HOME: "", GARRET_DATA_DIR: "" } },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    expect(listed).toContain(`${jti}  root`);
    expect(listed).toContain("origin=first-start");
  }, 240_000);

  it("a first start in a fresh HOME and a restart run the bundle and load neither the type stripper, the Postgres driver nor the S3 SDK (nor jose, until a token is used); a stale bundle is not run", async () => {
    // What `npm ci` runs after the bundle: its modules into the installation's compile cache.
    const filled = await runNode([FILL_COMPILE_CACHE]);
    expect(filled.code, filled.stderr).toBe(0);
    expect(filled.stderr).not.toContain("not filled");
    const bundle = currentBundle("garretd");
    expect(bundle).not.toBeNull();
    const chunk = (name: string) => new URL(`./${name}.mjs`, bundle as string).href;
    const manifest = await readFile(manifestPath("garretd"), "utf8");
    const home = await mkdtemp(join(tmpdir(), "garret-first-start-"));
    dirs.push(home);
    const port = await freePort();
    const startAndRecord = async (start: string): Promise<string[]> => {
      const log = join(home, `modules-${start}.txt`);
      const { child } = await startFresh(home, port, {
        nodeArgs: ["--require", RECORD_MODULE_LOADS],
        env: {
          GARRET_TEST_MODULE_LOG: log,
          NODE_COMPILE_CACHE: undefined,
          GARRET_COMPILE_CACHE: undefined,
          GARRET_BUNDLE: undefined,
          XDG_CACHE_HOME: undefined,
        },
      });
      const answer = await fetch(`http://127.0.0.1:${port}/none/00000000000000000000000000000000.narinfo`);
      // A cache that does not exist is, to an anonymous caller, one it may not see (atticd's answer).
      expect(answer.status).toBe(401);
      await stopChild(child);
      const loaded = (await readFile(log, "utf8")).split("\n");
      expect(loaded, start).toContain("NativeModule internal/modules/esm/loader");
      expect(
        loaded.filter((m) => /\/node_modules\/(pg|pg-[a-z]+|@aws-sdk\/[^/]+|@smithy\/[^/]+)\//.test(m)),
        start,
      ).toEqual([]);
      // jose loads with the first token verified or signed: a first start signs the root token, an
      // anonymous request on a restart verifies none.
      expect(
        loaded.some((m) => m.includes("/node_modules/jose/")),
        start,
      ).toBe(start === "first");
      // Compiled from the installation's cache, none from the HOME's.
      await expect(stat(join(home, ".cache", "garret")), start).rejects.toThrow(/ENOENT/);
      return loaded;
    };
    for (const start of ["first", "restart"]) {
      const loaded = await startAndRecord(start);
      // The bundle, with its SQLite client and its own drizzle; none of garret's TypeScript sources.
      expect(loaded, start).toContain(bundle);
      expect(loaded, start).toContain(chunk("sqlite-client"));
      expect(loaded, start).not.toContain(chunk("postgres-client"));
      expect(
        loaded.filter((m) => m.startsWith(SOURCES) && m.endsWith(".ts")),
        start,
      ).toEqual([]);
      expect(
        loaded.filter((m) => m.includes("/node_modules/drizzle-orm/")),
        start,
      ).toEqual([]);
      // Nothing to strip: the type stripper (its WebAssembly, ~25 MB) never loads.
      expect(
        loaded.filter((m) => m.includes("amaro")),
        start,
      ).toEqual([]);
    }
    // An input that differs from the manifest (here the manifest's record of it, so that no source
    // file changes under the other tests): the sources run.
    const stale = JSON.parse(manifest) as { inputs: Array<[string, number, number]> };
    const cli = stale.inputs.find(([path]) => path === "apps/garretd/src/cli.ts");
    expect(cli).toBeDefined();
    if (cli) cli[2] -= 1000;
    const replace = async (text: string) => {
      await writeFile(`${manifestPath("garretd")}.test`, text);
      await rename(`${manifestPath("garretd")}.test`, manifestPath("garretd"));
    };
    await replace(JSON.stringify(stale));
    try {
      const loaded = await startAndRecord("stale");
      expect(loaded).not.toContain(bundle);
      expect(loaded).toContain(SQLITE_CLIENT);
      expect(loaded).not.toContain(POSTGRES_CLIENT);
      expect(loaded.some((m) => m.includes("/node_modules/drizzle-orm/"))).toBe(true);
    } finally {
      await replace(manifest);
    }
  }, 240_000);
});

describe("garretd from its bundle", () => {
  let g: GarretdHandle;
  let log = "";
  beforeAll(async () => {
    // A fresh database: the first start runs every migration.
    g = await startGarretd({ db: "sqlite", storage: "local", compression: "zstd" });
    log = join(g.dataDir, "modules.txt");
    g.env.GARRET_TEST_MODULE_LOG = log;
    // An empty compile cache, the one its worker threads' modules have in the first generation after
    // `npm ci` (fill-compile-cache starts no worker): what they load must need none.
    g.env.NODE_COMPILE_CACHE = join(g.dataDir, "empty-compile-cache");
    await g.restart({ nodeArgs: ["--require", RECORD_MODULE_LOADS] });
    await createCacheOver(g.url, g.rootToken, "bundled", { isPublic: true });
  }, 120_000);
  afterAll(() => g?.stop());

  it("uploads, serves a large NAR, checkpoints the WAL, and ran the bundle", async () => {
    const nar = makeNar({ type: "regular", contents: lcgBytes(6_000_000, 5) });
    const hash = randomStorePathHash();
    const put = await fetch(`${g.url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${g.rootToken}`,
        "x-attic-nar-info": JSON.stringify(narInfoForNar("bundled", nar, { hash, name: "bundled" })),
      },
      body: nar,
    });
    expect(put.status, await put.clone().text()).toBe(200);
    const got = await fetch(`${g.url}/bundled/nar/${hash}.nar`);
    expect(got.status).toBe(200);
    expectSameBytes(zstdDecompressSync(Buffer.from(await got.arrayBuffer())), nar);

    // Checkpoint tasks start on the worker pool after 100 writes and copy the WAL into the database
    // file. The main connection never checkpoints below 1,000 WAL pages (a few pages per cache
    // created), so a database file that changes while garretd runs was written by a task.
    const dbFile = join(g.dataDir, "server.db");
    const before = (await stat(dbFile)).mtimeMs;
    for (let i = 0; i < 110; i++) await createCacheOver(g.url, g.rootToken, `c${i}`);
    let after = before;
    for (let waited = 0; after === before && waited < 20_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = (await stat(dbFile)).mtimeMs;
    }
    expect(after).toBeGreaterThan(before);

    await g.stopProcess();
    const loaded = (await readFile(log, "utf8")).split("\n");
    expect(loaded).toContain(currentBundle("garretd"));
    expect(loaded.filter((m) => m.startsWith(SOURCES) && m.endsWith(".ts"))).toEqual([]);

    // Every worker thread (the pool's, which compress and checkpoint, the read worker, any later
    // one) ran garret's code from the bundle too: none of its sources, nothing to strip, no type
    // stripper.
    const threads = (await readdir(g.dataDir)).filter((f) => f.startsWith("modules.txt.thread-"));
    const workers = await Promise.all(
      threads.map(async (f) => ({ f, loaded: (await readFile(join(g.dataDir, f), "utf8")).split("\n") })),
    );
    expect(
      workers.some((w) => w.loaded.some((m) => m.endsWith("/node_modules/piscina/dist/worker.js"))),
    ).toBe(true);
    const bundleDir = new URL("./", currentBundle("garretd") as string).href;
    for (const w of workers) {
      expect(
        w.loaded.some((m) => m.startsWith(bundleDir)),
        w.f,
      ).toBe(true);
      expect(
        w.loaded.filter((m) => m.startsWith(SOURCES) && !m.startsWith(`${SOURCES}node_modules/`)),
        w.f,
      ).toEqual([]);
      expect(
        w.loaded.filter((m) => m.includes("amaro")),
        w.f,
      ).toEqual([]);
    }
  }, 240_000);

  it("garretadm runs its bundle on the same data", async () => {
    const admLog = join(g.dataDir, "modules-garretadm.txt");
    const listed = await runNode(
      ["--require", RECORD_MODULE_LOADS, GARRETADM_BIN, "-f", g.configPath, "caches", "list"],
      { ...g.env, GARRET_TEST_MODULE_LOG: admLog },
    );
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain("bundled");
    const loaded = (await readFile(admLog, "utf8")).split("\n");
    expect(loaded).toContain(currentBundle("garretadm"));
    expect(loaded.filter((m) => m.startsWith(SOURCES) && m.endsWith(".ts"))).toEqual([]);
  }, 120_000);
});
