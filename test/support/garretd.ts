/**
 * Runs the real garretd process for integration tests and the benchmark: a fresh config (HS256 key),
 * embedded SQLite or a fresh Postgres database, local storage or an s3rver bucket, on a free loopback
 * port. Tokens are minted with the same key, the way `garretadm make-token` does.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenAuthority } from "@garret/token";
import { type ChunkingSettings, type ServerTomlOptions, writeServerToml } from "./garretd-config.ts";
import { GARRETADM_BIN, GARRETD_BIN, type GarretdProcess, spawnGarretdProcess } from "./garretd-process.ts";
import { freePort } from "./ports.ts";
import { createTestDatabase } from "./postgres.ts";
import { type S3rverHandle, startS3rver } from "./s3rver.ts";

export { freePort, GARRETADM_BIN, GARRETD_BIN };

export type DbKind = "sqlite" | "postgres";
export type StorageKind = "local" | "s3";

export interface GarretdOptions {
  db?: DbKind;
  storage?: StorageKind;
  /** Appended to the generated server.toml. */
  extraToml?: string;
  /** Default: every NAR chunked (TEST_CHUNKING). */
  chunking?: ChunkingSettings;
  compression?: "none" | "zstd" | "brotli" | "xz";
  /** `[garbage-collection] interval`; default "0s" (no collections unless a test runs one). */
  gcInterval?: string;
  requireProofOfPossession?: boolean;
  env?: Record<string, string>;
  /** A database URL of the caller's (e.g. `sqlite://…` of a file it built) instead of a fresh one. */
  databaseUrl?: string;
  /** Local storage only: an existing storage directory instead of a fresh one. */
  storagePath?: string;
  /** Postgres only: creates the database (default: a clone of the migrated test template). */
  postgres?: () => Promise<{ url: string; drop: () => Promise<void> }>;
  /** Postgres only: maps the database URL to the one garretd is given (e.g. through a proxy). */
  postgresUrl?: (url: string) => Promise<string>;
  /** S3 only: starts the S3 server (default: s3rver in this process). */
  s3rver?: () => Promise<S3rverHandle>;
  /** S3 only: maps s3rver's endpoint to the one garretd is given (e.g. a fault-injecting proxy). */
  s3Endpoint?: (endpoint: string) => Promise<string>;
  /** Starts the process under this umask (through /bin/sh), e.g. 0o022 as a login shell has. */
  umask?: number;
  /** Keep only the last this many characters of garretd's output (default: all of it). */
  outputLimit?: number;
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
  /** The environment garretd runs with (for starting more processes on the same data). */
  env: NodeJS.ProcessEnv;
  mintToken(sub: string, grants: Record<string, string[]>, validitySeconds?: number): Promise<string>;
  runMode(mode: string): Promise<ProcessResult>;
  logs(): string;
  /** The running process's id (undefined while stopped). */
  readonly pid: number | undefined;
  /** Sends `signal` to the process and waits for it to exit; data and config stay. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the process (SIGTERM) but keeps its database, storage and config. */
  stopProcess(): Promise<void>;
  /** Starts the process again, on the same port, after stopProcess(); `nodeArgs` e.g. `--cpu-prof`. */
  startProcess(opts?: { nodeArgs?: string[] }): Promise<void>;
  /** Stops the process and starts it again on the same data, on a new port. */
  restart(opts?: { nodeArgs?: string[] }): Promise<void>;
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
  const dataDir = join(dir, "data");
  let storageDir: string | undefined;
  let databaseUrl: string | undefined;
  let s3: S3rverHandle | undefined;

  let configDatabaseUrl = opts.databaseUrl;
  if (configDatabaseUrl === undefined && opts.db === "postgres") {
    const database = opts.postgres ? await opts.postgres() : await createTestDatabase();
    cleanups.unshift(database.drop);
    databaseUrl = database.url;
    configDatabaseUrl = opts.postgresUrl ? await opts.postgresUrl(database.url) : database.url;
  }
  let storage: ServerTomlOptions["storage"];
  if (opts.storage === "s3") {
    s3 = opts.s3rver ? await opts.s3rver() : await startS3rver();
    cleanups.unshift(s3.stop);
    const endpoint = opts.s3Endpoint ? await opts.s3Endpoint(s3.endpoint) : s3.endpoint;
    storage = { type: "s3", s3: { ...s3, endpoint } };
  } else {
    storageDir = opts.storagePath ?? join(dir, "storage");
    storage = { type: "local", path: storageDir };
  }
  const config = await writeServerToml({
    configPath: join(dir, "server.toml"),
    databaseUrl: configDatabaseUrl,
    storage,
    chunking: opts.chunking,
    compression: opts.compression,
    gcInterval: opts.gcInterval,
    requireProofOfPossession: opts.requireProofOfPossession,
    extraToml: opts.extraToml,
  });
  const { configPath, tokens, mintToken, rootToken } = config;

  const env = {
    ...process.env,
    GARRET_DATA_DIR: dataDir,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, "config"),
    ...opts.env,
  };
  let port = await freePort();
  let proc: GarretdProcess | null = null;
  // Earlier processes' output stays readable through logs() after a restart.
  let earlierOutput = "";

  const launch = async (nodeArgs?: string[]): Promise<void> => {
    if (proc) earlierOutput += proc.logs();
    proc = null;
    proc = await spawnGarretdProcess({
      configPath,
      env,
      port,
      nodeArgs,
      umask: opts.umask,
      outputLimit: opts.outputLimit,
    });
  };
  const stopChild = async (): Promise<void> => {
    await proc?.stop();
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
    env,
    logs: () => {
      const all = earlierOutput + (proc?.logs() ?? "");
      return opts.outputLimit === undefined ? all : all.slice(-opts.outputLimit);
    },
    runMode(mode) {
      return runNode([GARRETD_BIN, "-f", configPath, "--mode", mode], env);
    },
    get pid() {
      return proc?.running() ? proc.child.pid : undefined;
    },
    async kill(signal) {
      if (!proc) return { code: null, signal: null };
      return proc.kill(signal);
    },
    stopProcess: stopChild,
    async startProcess(o = {}) {
      await launch(o.nodeArgs);
    },
    async restart(o = {}) {
      await stopChild();
      port = await freePort();
      await launch(o.nodeArgs);
    },
    async stop() {
      await stopChild();
      for (const c of cleanups) await c().catch(() => {});
    },
  };
}
