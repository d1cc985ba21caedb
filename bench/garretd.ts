/**
 * garretd as the benchmark runs it: the real process (`apps/garretd/bin/garretd.js`) on a free
 * loopback port with a generated server.toml — embedded SQLite or a fresh Postgres database, local storage
 * or an s3rver bucket, atticd's default chunking and zstd. The data survives `restart()`, which is
 * how a profiled run reuses an instance that already holds the corpus.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSION_LETTERS, type Permission } from "@garret/protocol";
import { createTokenAuthority } from "@garret/token";
import { onCleanup, removeTree, spawnTracked, tempDir } from "./cleanup.ts";
import { freePort, waitForHttp } from "./ports.ts";
import { createDatabase } from "./postgres.ts";
import { type S3Handle, startS3rver } from "./s3rver.ts";

const GARRETD_BIN = fileURLToPath(new URL("../apps/garretd/bin/garretd.js", import.meta.url));

export type DbKind = "sqlite" | "postgres";
export type StorageKind = "local" | "s3";

export interface GarretdHandle {
  url: string;
  /** pid of the running garretd process. */
  pid: number;
  rootToken: string;
  /** The generated server.toml and the environment garretd runs with (for starting more copies). */
  configPath: string;
  env: NodeJS.ProcessEnv;
  /** The last ~20 kB garretd wrote to stdout and stderr. */
  logs(): string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Restarts on the same data; `cpuProfDir` runs the new process under `node --cpu-prof`. */
  restart(opts?: { cpuProfDir?: string }): Promise<void>;
  stop(): Promise<void>;
  /** Stops the process and drops its database, bucket and files. */
  destroy(): Promise<void>;
}

function allPermissions(): Permission {
  return Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, true])) as Permission;
}

export async function startGarretd(opts: {
  db: DbKind;
  storage: StorageKind;
  postgresUrl: string;
}): Promise<GarretdHandle> {
  const dir = await tempDir("garretd");
  const dataDir = join(dir, "data");
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32);
  const teardown: Array<() => Promise<void>> = [];
  const lines: string[] = [];
  if (opts.db === "postgres") {
    const db = await createDatabase(opts.postgresUrl);
    teardown.push(db.drop);
    lines.push("[database]", `url = ${JSON.stringify(db.url)}`, "");
  }
  let s3: S3Handle | undefined;
  if (opts.storage === "s3") {
    s3 = await startS3rver();
    teardown.push(s3.stop);
    lines.push(
      "[storage]",
      'type = "s3"',
      `region = ${JSON.stringify(s3.region)}`,
      `bucket = ${JSON.stringify(s3.bucket)}`,
      `endpoint = ${JSON.stringify(s3.endpoint)}`,
      "[storage.credentials]",
      `access_key_id = ${JSON.stringify(s3.accessKeyId)}`,
      `secret_access_key = ${JSON.stringify(s3.secretAccessKey)}`,
      "",
    );
  } else {
    lines.push("[storage]", 'type = "local"', `path = ${JSON.stringify(join(dir, "storage"))}`, "");
  }
  // atticd's defaults, written out so that a change of garretd's defaults does not move the baseline.
  lines.push(
    "[chunking]",
    "nar-size-threshold = 65536",
    "min-size = 16384",
    "avg-size = 65536",
    "max-size = 262144",
    "",
    "[compression]",
    'type = "zstd"',
    "",
    "[garbage-collection]",
    'interval = "0s"',
    "",
    "[jwt.signing]",
    `token-hs256-secret-base64 = ${JSON.stringify(secret.toString("base64"))}`,
    "",
  );
  const configPath = join(dir, "server.toml");
  await writeFile(configPath, lines.join("\n"));
  const tokens = await createTokenAuthority({ hs256Secret: secret });
  const rootToken = await tokens.mint({
    sub: "bench",
    validitySeconds: 7 * 24 * 3600,
    caches: [["*", allPermissions()]],
  });
  const env = { ...process.env, GARRET_DATA_DIR: dataDir, HOME: dir, XDG_CONFIG_HOME: join(dir, "config") };

  let port = 0;
  let pid = 0;
  let stopChild: () => Promise<void> = async () => {};
  let output = "";
  let running = false;
  const launch = async (cpuProfDir?: string): Promise<void> => {
    port = await freePort();
    const nodeArgs = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
    const { child, stop } = spawnTracked(
      process.execPath,
      [...nodeArgs, GARRETD_BIN, "-f", configPath, "--listen", `127.0.0.1:${port}`],
      { env },
    );
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    running = true;
    child.once("exit", (code, signal) => {
      running = false;
      output += `\n[bench] garretd exited (${code ?? signal})\n`;
    });
    await waitForHttp(`http://127.0.0.1:${port}/_api/v1/cache-config/x`, child, () => output, 120_000);
    if (child.pid === undefined) throw new Error("garretd has no pid");
    pid = child.pid;
    stopChild = stop;
  };
  await launch();

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await stopChild();
    for (const t of teardown.reverse()) await t().catch(() => {});
    await removeTree(dir);
  };
  const unregister = onCleanup(destroy);
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get pid() {
      return pid;
    },
    rootToken,
    configPath,
    env,
    logs: () => output,
    alive: () => running,
    async restart(o = {}) {
      await stopChild();
      await launch(o.cpuProfDir);
    },
    stop: () => stopChild(),
    destroy: unregister,
  };
}

/** Creates a public cache (reads need no token, as with nginx) and returns its public key. */
export async function createCache(g: GarretdHandle, name: string): Promise<string> {
  const res = await fetch(`${g.url}/_api/v1/cache-config/${name}`, {
    method: "POST",
    headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      keypair: "Generate",
      is_public: true,
      store_dir: "/nix/store",
      priority: 41,
      upstream_cache_key_names: [],
    }),
  });
  if (res.status !== 200) throw new Error(`creating cache ${name}: HTTP ${res.status} ${await res.text()}`);
  const cfg = await fetch(`${g.url}/_api/v1/cache-config/${name}`, {
    headers: { authorization: `Bearer ${g.rootToken}` },
  });
  return ((await cfg.json()) as { public_key: string }).public_key;
}
