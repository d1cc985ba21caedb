/**
 * The set-up contract: with no configuration at all, `garretd` writes one (SQLite, local storage, a
 * fresh RS256 key), prints a root token with the `attic login` line, and serves; the printed token
 * creates a cache whose `nix-cache-info` is then served. A second start reuses the written config.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, GARRETADM_BIN, GARRETD_BIN, runNode } from "../support/garretd.ts";

const RECORD_MODULE_LOADS = fileURLToPath(new URL("../support/record-module-loads.mjs", import.meta.url));
const FILL_COMPILE_CACHE = fileURLToPath(
  new URL("../../apps/garretd/bin/fill-compile-cache.js", import.meta.url),
);
const SQLITE_CLIENT = new URL("../../packages/db/src/sqlite-client.ts", import.meta.url).href;
const POSTGRES_CLIENT = new URL("../../packages/db/src/postgres-client.ts", import.meta.url).href;

const children: ChildProcess[] = [];
const dirs: string[] = [];

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

  it("a first start in a fresh HOME and a restart load neither the type stripper, the Postgres driver nor the S3 SDK (nor jose, until a token is used)", async () => {
    // What `npm ci` runs (the root `prepare` script): garretd's modules into the installation's cache.
    const filled = await runNode([FILL_COMPILE_CACHE]);
    expect(filled.code, filled.stderr).toBe(0);
    expect(filled.stderr).not.toContain("not filled");
    const home = await mkdtemp(join(tmpdir(), "garret-first-start-"));
    dirs.push(home);
    const port = await freePort();
    for (const start of ["first", "restart"]) {
      const log = join(home, `modules-${start}.txt`);
      const { child } = await startFresh(home, port, {
        nodeArgs: ["--import", RECORD_MODULE_LOADS],
        env: {
          GARRET_TEST_MODULE_LOG: log,
          NODE_COMPILE_CACHE: undefined,
          GARRET_COMPILE_CACHE: undefined,
          XDG_CACHE_HOME: undefined,
        },
      });
      const answer = await fetch(`http://127.0.0.1:${port}/none/00000000000000000000000000000000.narinfo`);
      // A cache that does not exist is, to an anonymous caller, one it may not see (atticd's answer).
      expect(answer.status).toBe(401);
      await stopChild(child);
      const loaded = (await readFile(log, "utf8")).split("\n");
      // The recording sees what the server did load: its SQLite client, drizzle, Node's built-ins.
      expect(loaded, start).toContain(SQLITE_CLIENT);
      expect(
        loaded.some((m) => m.includes("/node_modules/drizzle-orm/")),
        start,
      ).toBe(true);
      expect(loaded, start).toContain("NativeModule internal/modules/esm/loader");
      expect(
        loaded.filter((m) => /\/node_modules\/(pg|pg-[a-z]+|@aws-sdk\/[^/]+|@smithy\/[^/]+)\//.test(m)),
        start,
      ).toEqual([]);
      expect(loaded, start).not.toContain(POSTGRES_CLIENT);
      // jose loads with the first token verified or signed: a first start signs the root token, an
      // anonymous request on a restart verifies none.
      expect(
        loaded.some((m) => m.includes("/node_modules/jose/")),
        start,
      ).toBe(start === "first");
      // Every module came stripped and compiled from the installation's cache, none from the HOME's.
      expect(
        loaded.filter((m) => m.includes("amaro")),
        start,
      ).toEqual([]);
      await expect(stat(join(home, ".cache", "garret")), start).rejects.toThrow(/ENOENT/);
    }
  }, 240_000);
});
