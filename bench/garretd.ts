/**
 * garretd as the benchmark runs it: the tests' harness (test/support/garretd.ts, the real process on
 * a free loopback port) with atticd's default chunking and zstd written out, so that a change of
 * garretd's defaults does not move the baseline; Postgres on the benchmark's --postgres-url and
 * s3rver in its own process. Everything is stopped and removed at the benchmark's cleanup. The data
 * survives `restart()`, which is how a profiled run reuses an instance that already holds the corpus.
 */
import { type DbKind, type StorageKind, startGarretd as startTestGarretd } from "../test/support/garretd.ts";
import { ATTICD_CHUNKING } from "../test/support/garretd-config.ts";
import { onCleanup } from "./cleanup.ts";
import { createDatabase } from "./postgres.ts";
import { startS3rver } from "./s3rver.ts";

export type { DbKind, StorageKind };

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
  /** Restarts on the same data; `cpuProfDir` runs the new process's sources under `node --cpu-prof`. */
  restart(opts?: { cpuProfDir?: string }): Promise<void>;
  stop(): Promise<void>;
  /** Stops the process and drops its database, bucket and files. */
  destroy(): Promise<void>;
}

export async function startGarretd(opts: {
  db: DbKind;
  storage: StorageKind;
  postgresUrl: string;
}): Promise<GarretdHandle> {
  const g = await startTestGarretd({
    db: opts.db,
    storage: opts.storage,
    postgres: () => createDatabase(opts.postgresUrl),
    s3rver: startS3rver,
    chunking: ATTICD_CHUNKING,
    compression: "zstd",
    outputLimit: 20_000,
  });
  const destroy = onCleanup(() => g.stop());
  const bundleSetting = g.env.GARRET_BUNDLE;
  return {
    get url() {
      return g.url;
    },
    get pid() {
      const pid = g.pid;
      if (pid === undefined) throw new Error(`garretd is not running:\n${g.logs()}`);
      return pid;
    },
    rootToken: g.rootToken,
    configPath: g.configPath,
    env: g.env,
    logs: () => g.logs(),
    alive: () => g.pid !== undefined,
    restart: (o = {}) => {
      // A profiled process runs the sources, whose file names say where the time goes: the bundle
      // that garretd otherwise runs puts all of garret in a few chunks (same code once running).
      if (o.cpuProfDir) g.env.GARRET_BUNDLE = "0";
      else if (bundleSetting === undefined) delete g.env.GARRET_BUNDLE;
      else g.env.GARRET_BUNDLE = bundleSetting;
      return g.restart({
        nodeArgs: o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : undefined,
      });
    },
    stop: () => g.stopProcess(),
    destroy,
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
