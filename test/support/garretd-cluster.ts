/**
 * Lower-level pieces for running several garretd processes on one configuration (one database,
 * one storage), as a scaled-out deployment does: write a server.toml, spawn garretd in any mode and
 * wait for it to listen, run one-shot modes. `startGarretd` (garretd.ts) stays the one-process
 * harness; this file is for tests that need more than one process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import { freePort, GARRETD_BIN } from "./garretd.ts";
import { grant } from "./grants.ts";
import type { S3rverHandle } from "./s3rver.ts";

export interface ClusterConfig {
  configPath: string;
  tokens: TokenAuthority;
  rootToken: string;
  /** The HS256 secret, base64 (to look for in logs). */
  secretBase64: string;
  mintToken(sub: string, grants: Record<string, string[]>): Promise<string>;
}

export interface ClusterConfigOptions {
  dir: string;
  /** Postgres URL; omitted = the embedded SQLite database in `<dir>/data`. */
  databaseUrl?: string;
  storage: { type: "local"; path: string } | { type: "s3"; s3: S3rverHandle };
  /** GC interval of the collector modes. */
  gcInterval?: string;
  /** Appended at the top level (before the tables), e.g. `[garret]` keys need their own table. */
  extraToml?: string;
}

export async function writeClusterConfig(opts: ClusterConfigOptions): Promise<ClusterConfig> {
  const secret = randomBytes(32);
  const lines: string[] = [];
  if (opts.databaseUrl) lines.push("[database]", `url = ${JSON.stringify(opts.databaseUrl)}`, "");
  if (opts.storage.type === "s3") {
    const s3 = opts.storage.s3;
    lines.push(
      "[storage]",
      'type = "s3"',
      `region = ${JSON.stringify(s3.region)}`,
      `bucket = ${JSON.stringify(s3.bucket)}`,
      `endpoint = ${JSON.stringify(s3.endpoint.replace("127.0.0.1", "localhost"))}`,
      "[storage.credentials]",
      `access_key_id = ${JSON.stringify(s3.credentials.accessKeyId)}`,
      `secret_access_key = ${JSON.stringify(s3.credentials.secretAccessKey)}`,
      "",
    );
  } else {
    lines.push("[storage]", 'type = "local"', `path = ${JSON.stringify(opts.storage.path)}`, "");
  }
  lines.push(
    "[chunking]",
    "nar-size-threshold = 1",
    "min-size = 16384",
    "avg-size = 65536",
    "max-size = 262144",
    "",
    "[garbage-collection]",
    `interval = ${JSON.stringify(opts.gcInterval ?? "0s")}`,
    "",
    "[jwt.signing]",
    `token-hs256-secret-base64 = ${JSON.stringify(secret.toString("base64"))}`,
    "",
  );
  const configPath = join(opts.dir, "server.toml");
  await writeFile(configPath, `${opts.extraToml ?? ""}\n${lines.join("\n")}`);
  const tokens = await createTokenAuthority({ hs256Secret: secret });
  const mintToken = (sub: string, grants: Record<string, string[]>) =>
    tokens.mint({
      sub,
      validitySeconds: 3600,
      caches: Object.entries(grants).map(([pattern, letters]) => [pattern, grant(letters)]),
    });
  return {
    configPath,
    tokens,
    secretBase64: secret.toString("base64"),
    mintToken,
    rootToken: await mintToken("root", { "*": [...PERMISSION_LETTERS] }),
  };
}

export interface GarretdProcess {
  /** `http://127.0.0.1:<port>`; empty for modes that do not listen. */
  url: string;
  logs(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Resolves when the output contains `text`; rejects if the process exits first. */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function clusterEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GARRET_DATA_DIR: join(dir, "data"),
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, "config"),
    ...extra,
  };
}

/**
 * Spawns `garretd -f CONFIG --mode MODE`; listening modes get a free loopback port and the promise
 * resolves once the process logs that it listens.
 */
export async function spawnGarretd(
  config: { configPath: string; dir: string },
  mode: string,
  opts: { env?: Record<string, string>; args?: string[]; waitForListening?: boolean } = {},
): Promise<GarretdProcess> {
  const listens = mode === "monolithic" || mode === "api-server";
  const port = listens ? await freePort() : 0;
  const args = [GARRETD_BIN, "-f", config.configPath, "--mode", mode, ...(opts.args ?? [])];
  if (listens) args.push("--listen", `127.0.0.1:${port}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    env: clusterEnv(config.dir, opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waitForLog = (text: string, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(text)) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `garretd --mode ${mode} did not log ${JSON.stringify(text)} within ${timeoutMs} ms:\n${output}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then((code) => {
        if (!waiters.has(check)) return;
        done();
        if (output.includes(text)) resolve();
        else reject(new Error(`garretd --mode ${mode} exited with ${code}:\n${output}`));
      });
      check();
    });
  const handle: GarretdProcess = {
    url: listens ? `http://127.0.0.1:${port}` : "",
    logs: () => output,
    exited,
    waitForLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (listens && opts.waitForListening !== false) {
    try {
      await waitForLog('"msg":"listening"');
    } catch (err) {
      await handle.stop();
      throw err;
    }
  }
  return handle;
}

/**
 * Runs a one-shot mode (db-migrations, garbage-collector-once, check-config) to completion, or any
 * mode expected to fail at start.
 */
export async function runGarretdOnce(
  config: { configPath: string; dir: string },
  mode: string,
  opts: { env?: Record<string, string>; args?: string[] } = {},
): Promise<{ code: number | null; output: string }> {
  const p = await spawnGarretd(config, mode, { ...opts, waitForListening: false });
  const code = await p.exited;
  return { code, output: p.logs() };
}
