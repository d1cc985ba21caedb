/**
 * Issue 5's proof: the real `garret` binary with real Nix 2.8 against a real garretd, following
 * attic's own integration test (`integration-tests/basic`) with `garret` in place of `attic`:
 * login (root, read-only, anonymous) → cache create → push a closure with references and a large
 * path → `use` into a temporary config → Nix substitutes into a fresh store with signatures
 * required → read-only and anonymous pushes refused → push 10 paths from --stdin → make public →
 * retention 1 s + garbage-collector-once removes the objects → --force-preamble push → info →
 * destroy. Then `watch-store` pushes a path built after it started. garret's extensions are exercised
 * before the destroy: pin add/list/remove, statistics in `cache info`, `delete` (403 without `d`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  buildMany,
  describeWithNix,
  nixEnv,
  nixTempDir,
  queryPathInfo,
  runNix,
  type TestClosure,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const db = postgresTestUrl() ? "postgres" : "sqlite";
const GARRET_BIN = fileURLToPath(new URL("../../apps/garret/bin/garret.js", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describeWithNix(`garret client (attic's integration flow, ${db})`, () => {
  const seed = `client-${randomBytes(4).toString("hex")}`;
  let g: GarretdHandle;
  let home: string;
  let readonlyToken: string;
  let closure: TestClosure;
  let closurePaths: string[];
  let publicKey: string;
  /**
   * The endpoint garret logs in to. It names the server `localhost` while the S3 endpoint (s3rver)
   * is `127.0.0.1`: curl applies netrc by host name, so with one name for both it would also send
   * the token to S3 when garretd redirects a NAR download there, and S3 rejects the second auth.
   */
  let endpoint: string;

  /** Runs `garret` with its config under `home` and the Nix test environment for the commands it spawns. */
  async function garret(args: string[], stdin = ""): Promise<Run> {
    const env = await nixEnv({ env: { XDG_CONFIG_HOME: home } });
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [GARRET_BIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(stdin);
    });
  }

  /** A Nix environment that reads substituters, keys and netrc-file from `home/nix/nix.conf`, as `garret use` left them. */
  async function envFromUse(): Promise<NodeJS.ProcessEnv> {
    const env = await nixEnv({ env: { XDG_CONFIG_HOME: home } });
    env.NIX_CONFIG = (env.NIX_CONFIG ?? "")
      .split("\n")
      .filter((line) => !/^(substituters|trusted-public-keys|netrc-file)\s*=/.test(line))
      .join("\n");
    return env;
  }

  /** Substitutes `paths` into a new chroot store using only what `garret use` configured. */
  async function substituteFresh(paths: string[]): Promise<Run & { storeRoot: string }> {
    const storeRoot = await nixTempDir("client-store");
    const env = await envFromUse();
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn("nix-store", ["--store", `local?root=${storeRoot}`, "--realise", ...paths], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    return { ...run, storeRoot };
  }

  async function expectSameAsLocal(paths: string[], storeRoot: string): Promise<void> {
    const pulled = await queryPathInfo(paths, { recursive: true, store: `local?root=${storeRoot}` });
    const local = await queryPathInfo(pulled.map((p) => p.path));
    expect(pulled.map((p) => [p.path, p.narHash, p.narSize])).toEqual(
      local.map((p) => [p.path, p.narHash, p.narSize]),
    );
  }

  async function api(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (init.token) headers.set("authorization", `Bearer ${init.token}`);
    return fetch(`${g.url}${path}`, { ...init, headers });
  }

  async function missing(cache: string, paths: string[]): Promise<string[]> {
    const res = await api("/_api/v1/get-missing-paths", {
      method: "POST",
      token: g.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        cache,
        store_path_hashes: paths.map((p) => p.slice("/nix/store/".length, "/nix/store/".length + 32)),
      }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { missing_paths: string[] }).missing_paths;
  }

  beforeAll(async () => {
    home = await nixTempDir("client-home");
    // garretd creates `<data dir>/db` without its parents, so hand it a data directory that exists
    const dataDir = await nixTempDir("client-garretd-data");
    [g, closure] = await Promise.all([
      // With GARRET_TEST_POSTGRES_URL (CI) this runs on Postgres + S3, as attic's matrix does.
      startGarretd({ db, storage: db === "postgres" ? "s3" : "local", env: { GARRET_DATA_DIR: dataDir } }),
      buildClosure({ seed, bigMB: 24 }),
    ]);
    endpoint = g.url.replace("127.0.0.1", "localhost");
    readonlyToken = await g.mintToken("e2e-readonly", { test: ["r"] });
    closurePaths = (await queryPathInfo([closure.app, closure.big], { recursive: true })).map((p) => p.path);
  });

  afterAll(async () => {
    await g?.stop();
  });

  it("logs in to three servers without network traffic", async () => {
    expect((await garret(["login", "--set-default", "root", endpoint, g.rootToken])).code).toBe(0);
    expect((await garret(["login", "readonly", endpoint, readonlyToken])).code).toBe(0);
    expect((await garret(["login", "anon", endpoint])).code).toBe(0);
    const configFile = join(home, "attic", "config.toml");
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const text = await readFile(configFile, "utf8");
    expect(text).toContain('default-server = "root"');
    expect(text).toContain("[servers.anon]");
  });

  it("creates a cache", async () => {
    const r = await garret(["cache", "create", "test"]);
    expect(r.code, r.stderr).toBe(0);
    const again = await garret(["cache", "create", "test"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("error: CacheAlreadyExists: The cache already exists.");
  });

  it("pushes a closure with references and a large path", async () => {
    expect(await missing("test", closurePaths)).toHaveLength(closurePaths.length);
    const dry = await garret(["push", "test", "--dry-run", closure.app, closure.big]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(
      dry.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t")[0])
        .sort(),
    ).toEqual([...closurePaths].sort());
    expect(await missing("test", closurePaths)).toHaveLength(closurePaths.length);

    const r = await garret(["push", "test", "-j", "3", closure.app, closure.big]);
    expect(r.code, r.stderr).toBe(0);
    for (const p of closurePaths) expect(r.stderr).toContain(`✅ ${p} (`);
    expect(await missing("test", closurePaths)).toEqual([]);

    const again = await garret(["push", "test", closure.app]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("nothing to push");
  });

  it("`use` configures Nix, which substitutes the closure into a fresh store with signatures required", async () => {
    await writeFile(
      join(await nixDir(), "nix.conf"),
      "# kept comment\nsubstituters =\nmax-jobs = 2   # also kept\n",
    );
    const r = await garret(["use", "readonly:test"]);
    expect(r.code, r.stderr).toBe(0);
    const nixConf = await readFile(join(home, "nix", "nix.conf"), "utf8");
    const info = await garret(["cache", "info", "test"]);
    publicKey = /Public Key: (\S+)/.exec(info.stdout)?.[1] ?? "";
    expect(publicKey).toMatch(/^test:/);
    expect(nixConf).toBe(
      `# kept comment\nsubstituters = ${endpoint}/test\nmax-jobs = 2   # also kept\n` +
        `trusted-public-keys = ${publicKey} cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\n` +
        `netrc-file = ${join(home, "nix", "netrc")}\n`,
    );
    const netrc = join(home, "nix", "netrc");
    expect((await stat(netrc)).mode & 0o777).toBe(0o600);
    expect(await readFile(netrc, "utf8")).toBe(`machine localhost password ${readonlyToken}\n`);

    const pulled = await substituteFresh([closure.app, closure.big]);
    expect(pulled.code, pulled.stderr).toBe(0);
    await expectSameAsLocal([closure.app, closure.big], pulled.storeRoot);
    const leafText = await readFile(join(pulled.storeRoot, closure.leaf), "utf8");
    expect(leafText).toContain(seed);
  });

  it("refuses pushes with a read-only token (403) and anonymously (401)", async () => {
    const ro = await garret(["push", "readonly:test", closure.leaf]);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain(
      "error: AccessError: Access error: User does not have permission to complete this action.",
    );
    expect(ro.stderr).toContain(`lacks "w" (push)`);
    const anon = await garret(["push", "anon:test", closure.leaf]);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain("error: Unauthorized: Unauthorized.");
    expect(anon.stderr).toContain("has no token");
  });

  it("pushes 10 paths from --stdin, and Nix substitutes them", async () => {
    const many = await buildMany({ seed, count: 10 });
    const r = await garret(["push", "test", "--stdin"], `${many.join("\n")}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(await missing("test", many)).toEqual([]);
    const pulled = await substituteFresh(many);
    expect(pulled.code, pulled.stderr).toBe(0);
    await expectSameAsLocal(many, pulled.storeRoot);
  });

  it("makes the cache public without needing the retention permission (attic#144)", async () => {
    expect((await api("/test/nix-cache-info")).status).toBe(401);
    const configurer = await g.mintToken("e2e-configure", { test: ["r", "cr"] });
    expect((await garret(["login", "configurer", endpoint, configurer])).code).toBe(0);
    const r = await garret(["cache", "configure", "configurer:test", "--public"]);
    expect(r.code, r.stderr).toBe(0);
    const info = await api("/test/nix-cache-info");
    expect(info.status).toBe(200);
    expect(await info.text()).toContain("StoreDir: /nix/store");
    const hash = closure.leaf.slice("/nix/store/".length, "/nix/store/".length + 32);
    expect((await api(`/test/${hash}.narinfo`)).status).toBe(200);

    const retention = await garret(["cache", "configure", "configurer:test", "--retention-period", "1s"]);
    expect(retention.code).toBe(1);
    expect(retention.stderr).toContain(`"cq" (configure retention)`);
  });

  it("garbage-collects objects past a 1 s retention period", async () => {
    const hash = closure.leaf.slice("/nix/store/".length, "/nix/store/".length + 32);
    expect((await api(`/test/${hash}.narinfo`)).status).toBe(200);
    const r = await garret(["cache", "configure", "test", "--retention-period", "1s"]);
    expect(r.code, r.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // The embedded SQLite database belongs to one process at a time: the collector runs while the server is stopped.
    if (db === "sqlite") await g.stopProcess();
    const gc = await g.runMode("garbage-collector-once");
    if (db === "sqlite") await g.startProcess();
    expect(gc.code, gc.stderr).toBe(0);
    expect(
      (await api(`/test/${hash}.narinfo`)).status,
      `garbage collector output:\n${gc.stdout}${gc.stderr}`,
    ).toBe(404);
    if (g.storageDir) {
      const left = await listFiles(g.storageDir);
      expect(left.filter((f) => !f.endsWith("VERSION"))).toEqual([]);
    }
  });

  it("pushes with --force-preamble and Nix substitutes the result", async () => {
    const [fresh] = await buildMany({ seed: `${seed}-preamble`, count: 1 });
    const path = fresh as string;
    const r = await garret(["push", "--force-preamble", "test", path]);
    expect(r.code, r.stderr).toBe(0);
    const pulled = await substituteFresh([path]);
    expect(pulled.code, pulled.stderr).toBe(0);
    await expectSameAsLocal([path], pulled.storeRoot);
  });

  it("pins a path, shows garretd's statistics, deletes a path (garret extensions)", async () => {
    const [fresh] = await buildMany({ seed: `${seed}-extensions`, count: 1 });
    const path = fresh as string;
    const hash = path.slice("/nix/store/".length, "/nix/store/".length + 32);
    expect((await garret(["push", "test", path])).code).toBe(0);

    const pin = await garret(["pin", "add", "test", "keep", path, "--expires", "1d"]);
    expect(pin.code, pin.stderr).toBe(0);
    const list = await garret(["pin", "list", "test"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^keep  expires \\S+  by root\n  ${path}\n$`));
    const info = await garret(["cache", "info", "test"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/ {16}Pins: 1\n/);
    expect(info.stdout).toMatch(/ {13}Objects: [1-9]\d*\n/);
    expect(info.stdout).toContain("Dedup Ratio: ");
    expect(info.stdout).toContain("Last GC: ");
    expect((await garret(["pin", "remove", "test", "keep"])).code).toBe(0);
    const none = await garret(["pin", "list", "test"]);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain('No pins in "test"');

    const denied = await garret(["delete", "readonly:test", path]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(`lacks "d" (delete paths)`);
    expect((await api(`/test/${hash}.narinfo`)).status).toBe(200);
    const del = await garret(["delete", "test", path]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stderr).toContain(`Deleted ${path}`);
    expect((await api(`/test/${hash}.narinfo`)).status).toBe(404);
  });

  it("shows info, asks before destroying, destroys", async () => {
    const info = await garret(["cache", "info", "test"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain("Public: true");
    expect(info.stdout).toContain("Retention Period: 1 seconds");
    expect(info.stdout).toContain(`Binary Cache Endpoint: ${endpoint}/test`);

    const declined = await garret(["cache", "destroy", "test"], "not-the-name\n");
    expect(declined.code).toBe(1);
    expect((await garret(["cache", "info", "test"])).code).toBe(0);

    const r = await garret(["cache", "destroy", "--no-confirm", "test"]);
    expect(r.code, r.stderr).toBe(0);
    const gone = await garret(["cache", "info", "test"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("error: NoSuchCache: The requested cache does not exist.");
    expect((await api("/test/nix-cache-info")).status).not.toBe(200);
  });

  it("watch-store pushes a path built after it started, and stops on SIGINT", async () => {
    expect((await garret(["cache", "create", "watched", "--upstream-cache-key-name", ""])).code).toBe(0);
    const env = await nixEnv({ env: { XDG_CONFIG_HOME: home } });
    const child: ChildProcess = spawn(process.execPath, [GARRET_BIN, "watch-store", "watched"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await waitFor(
        () => stderr.includes("watching"),
        30_000,
        () => stderr,
      );
      const built = await runNix("nix-build", [
        fileURLToPath(new URL("../fixtures/closure.nix", import.meta.url)),
        "--no-out-link",
        "--argstr",
        "seed",
        `${seed}-watch`,
        "-A",
        "leaf",
      ]);
      expect(built.code, built.stderr).toBe(0);
      const path = built.stdout.trim();
      // The server has the path once its commit is visible; the client says so only when the
      // response reaches it, a moment later.
      await waitFor(
        async () => stderr.includes(`✅ ${path}`) && (await missing("watched", [path])).length === 0,
        60_000,
        () => stderr,
      );
      expect(stderr).toContain(`✅ ${path}`);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  async function nixDir(): Promise<string> {
    const dir = join(home, "nix");
    await mkdir(dir, { recursive: true });
    return dir;
  }
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; output so far:\n${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
