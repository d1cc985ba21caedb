/**
 * Runs the real garretd process for integration tests: a fresh config (HS256 key), embedded SQLite or a
 * fresh Postgres database, local storage or an s3rver bucket, on a free loopback port. Tokens are
 * minted with the same key, the way `garretadm make-token` does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import { grant } from "./grants.ts";
import { freePort } from "./ports.ts";
import { createTestDatabase } from "./postgres.ts";
import { type S3rverHandle, startS3rver } from "./s3rver.ts";

export { freePort };

export const GARRETD_BIN = fileURLToPath(new URL("../../apps/garretd/bin/garretd.js", import.meta.url));
export const GARRETADM_BIN = fileURLToPath(new URL("../../apps/garretd/bin/garretadm.js", import.meta.url));

export type DbKind = "sqlite" | "postgres";
export type StorageKind = "local" | "s3";

export interface GarretdOptions {
  db?: DbKind;
  storage?: StorageKind;
  /** Appended to the generated server.toml. */
  extraToml?: string;
  chunking?: { narSizeThreshold: number; minSize: number; avgSize: number; maxSize: number };
  compression?: "none" | "zstd" | "brotli" | "xz";
  /** `[garbage-collection] interval`; default "0s" (no collections unless a test runs one). */
  gcInterval?: string;
  requireProofOfPossession?: boolean;
  env?: Record<string, string>;
  /** A database URL of the caller's (e.g. `sqlite://…` of a file it built) instead of a fresh one. */
  databaseUrl?: string;
  /** Local storage only: an existing storage directory instead of a fresh one. */
  storagePath?: string;
  /** Postgres only: maps the database URL to the one garretd is given (e.g. through a proxy). */
  postgresUrl?: (url: string) => Promise<string>;
  /** S3 only: maps s3rver's endpoint to the one garretd is given (e.g. a fault-injecting proxy). */
  s3Endpoint?: (endpoint: string) => Promise<string>;
  /** Starts the process under this umask (through /bin/sh), e.g. 0o022 as a login shell has. */
  umask?: number;
}

export interface GarretdHandle {
  url: string;
  port: number;
  rootToken: string;
  configPath: string;
  dataDir: string;
  storageDir?: string;
  /** The Postgres database's URL (db: "postgres" only). */
  databaseUrl?: string;
  /** The s3rver instance (storage: "s3" only). */
  s3?: S3rverHandle;
  tokens: TokenAuthority;
  mintToken(sub: string, grants: Record<string, string[]>, validitySeconds?: number): Promise<string>;
  runMode(mode: string): Promise<ProcessResult>;
  logs(): string;
  /** The running process's id (undefined while stopped). */
  readonly pid: number | undefined;
  /** Sends `signal` to the process and waits for it to exit; data and config stay. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the process (SIGTERM) but keeps its database, storage and config. */
  stopProcess(): Promise<void>;
  /** Starts the process again, on the same port, after stopProcess(). */
  startProcess(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Node script (garretd, garretadm, ...) to completion and collects its output. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
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

/** `garretadm -f CONFIG ARGS...` against a test server's configuration and data directory. */
export function runGarretadm(
  g: Pick<GarretdHandle, "configPath" | "dataDir">,
  args: string[],
): Promise<ProcessResult> {
  return runNode([GARRETADM_BIN, "-f", g.configPath, ...args], {
    ...process.env,
    GARRET_DATA_DIR: g.dataDir,
    HOME: g.dataDir,
  });
}

export async function startGarretd(opts: GarretdOptions = {}): Promise<GarretdHandle> {
  const dir = await mkdtemp(join(tmpdir(), "garretd-test-"));
  const cleanups: Array<() => Promise<void>> = [() => rm(dir, { recursive: true, force: true })];
  const secret = randomBytes(32);
  const dataDir = join(dir, "data");
  let storageDir: string | undefined;
  let databaseUrl: string | undefined;
  let s3: S3rverHandle | undefined;
  const lines: string[] = [];

  if (opts.databaseUrl !== undefined) {
    lines.push("[database]", `url = ${JSON.stringify(opts.databaseUrl)}`, "");
  } else if (opts.db === "postgres") {
    const database = await createTestDatabase();
    cleanups.unshift(database.drop);
    databaseUrl = database.url;
    const url = opts.postgresUrl ? await opts.postgresUrl(database.url) : database.url;
    lines.push("[database]", `url = ${JSON.stringify(url)}`, "");
  }
  if (opts.storage === "s3") {
    s3 = await startS3rver();
    cleanups.unshift(s3.stop);
    const endpoint = opts.s3Endpoint ? await opts.s3Endpoint(s3.endpoint) : s3.endpoint;
    lines.push(
      "[storage]",
      'type = "s3"',
      `region = ${JSON.stringify(s3.region)}`,
      `bucket = ${JSON.stringify(s3.bucket)}`,
      // "localhost", not 127.0.0.1: Nix follows the presigned-URL redirect and curl would send the
      // netrc credentials of 127.0.0.1 along, which S3 refuses next to a signed query string.
      `endpoint = ${JSON.stringify(endpoint.replace("127.0.0.1", "localhost"))}`,
      "[storage.credentials]",
      `access_key_id = ${JSON.stringify(s3.credentials.accessKeyId)}`,
      `secret_access_key = ${JSON.stringify(s3.credentials.secretAccessKey)}`,
      "",
    );
  } else {
    storageDir = opts.storagePath ?? join(dir, "storage");
    lines.push("[storage]", 'type = "local"', `path = ${JSON.stringify(storageDir)}`, "");
  }
  const chunking = opts.chunking ?? {
    narSizeThreshold: 1,
    minSize: 16_384,
    avgSize: 65_536,
    maxSize: 262_144,
  };
  lines.push(
    "[chunking]",
    `nar-size-threshold = ${chunking.narSizeThreshold}`,
    `min-size = ${chunking.minSize}`,
    `avg-size = ${chunking.avgSize}`,
    `max-size = ${chunking.maxSize}`,
    "",
    "[compression]",
    `type = ${JSON.stringify(opts.compression ?? "zstd")}`,
    "",
    "[garbage-collection]",
    `interval = ${JSON.stringify(opts.gcInterval ?? "0s")}`,
    "",
    "[jwt.signing]",
    `token-hs256-secret-base64 = ${JSON.stringify(secret.toString("base64"))}`,
    "",
  );
  const top = [
    opts.requireProofOfPossession === false ? "require-proof-of-possession = false" : "",
    opts.extraToml ?? "",
  ].join("\n");
  const configPath = join(dir, "server.toml");
  await writeFile(configPath, `${top}\n${lines.join("\n")}`);

  const tokens = await createTokenAuthority({ hs256Secret: secret });
  const mintToken = (sub: string, grants: Record<string, string[]>, validitySeconds = 3600) =>
    tokens.mint({
      sub,
      validitySeconds,
      caches: Object.entries(grants).map(([pattern, letters]) => [pattern, grant(letters)]),
    });
  const rootToken = await mintToken("root", { "*": [...PERMISSION_LETTERS] });

  const env = {
    ...process.env,
    GARRET_DATA_DIR: dataDir,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, "config"),
    ...opts.env,
  };
  let port = await freePort();
  let child: ChildProcess | null = null;
  let output = "";

  const launch = async (): Promise<void> => {
    const args = [GARRETD_BIN, "-f", configPath, "--listen", `127.0.0.1:${port}`];
    child =
      opts.umask === undefined
        ? spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] })
        : spawn(
            "/bin/sh",
            [
              "-c",
              `umask ${opts.umask.toString(8).padStart(3, "0")}; exec "$0" "$@"`,
              process.execPath,
              ...args,
            ],
            { env, stdio: ["ignore", "pipe", "pipe"] },
          );
    const proc = child;
    // Earlier runs' lines stay in `output`; only this process's "listening" counts.
    const from = output.length;
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('"msg":"listening"', from)) resolve();
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      proc.once("exit", (code) =>
        reject(new Error(`garretd exited with ${code} before listening:\n${output}`)),
      );
      setTimeout(() => reject(new Error(`garretd did not start within 60 s:\n${output}`)), 60_000).unref();
    });
  };
  const stopChild = async (): Promise<void> => {
    const proc = child as ChildProcess | null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    rootToken,
    configPath,
    dataDir,
    storageDir,
    databaseUrl,
    s3,
    tokens,
    mintToken,
    logs: () => output,
    runMode(mode) {
      return runNode([GARRETD_BIN, "-f", configPath, "--mode", mode], env);
    },
    get pid() {
      const proc = child as ChildProcess | null;
      return proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
    },
    async kill(signal) {
      const proc = child as ChildProcess | null;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
        return { code: proc?.exitCode ?? null, signal: proc?.signalCode ?? null };
      }
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        proc.once("exit", (code, sig) => resolve({ code, signal: sig })),
      );
      proc.kill(signal);
      return exited;
    },
    stopProcess: stopChild,
    async startProcess() {
      await launch();
    },
    async restart() {
      await stopChild();
      port = await freePort();
      await launch();
    },
    async stop() {
      await stopChild();
      for (const c of cleanups) await c().catch(() => {});
    },
  };
}
