/**
 * Several garretd processes on one configuration (one database, one storage), as a scaled-out
 * deployment runs them: a server.toml in a directory of the test's, processes in any mode on it, and
 * one-shot modes run to completion. `startGarretd` (garretd.ts) stays the one-process harness.
 */
import { join } from "node:path";
import { type ServerConfig, type ServerTomlOptions, writeServerToml } from "./garretd-config.ts";
import { type GarretdProcess, spawnGarretdProcess } from "./garretd-process.ts";
import { freePort } from "./ports.ts";

export type { GarretdProcess };
export type ClusterConfig = ServerConfig;

export interface ClusterConfigOptions extends Omit<ServerTomlOptions, "configPath"> {
  /** The configuration is written to `<dir>/server.toml`; the data directory is `<dir>/data`. */
  dir: string;
}

export function writeClusterConfig(opts: ClusterConfigOptions): Promise<ClusterConfig> {
  const { dir, ...rest } = opts;
  return writeServerToml({ ...rest, configPath: join(dir, "server.toml") });
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
  return spawnGarretdProcess({
    configPath: config.configPath,
    env: clusterEnv(config.dir, opts.env),
    mode,
    args: opts.args,
    port: listens ? await freePort() : undefined,
    waitForListening: listens && opts.waitForListening !== false,
  });
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
  const { code } = await p.exited;
  return { code, output: p.logs() };
}
