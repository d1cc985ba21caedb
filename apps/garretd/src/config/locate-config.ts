/**
 * Where garretd's configuration comes from, in atticd's lookup order: `-f PATH`, then
 * `ATTIC_SERVER_CONFIG_BASE64`, then `$XDG_CONFIG_HOME/attic/server.toml` and
 * `$XDG_CONFIG_HOME/garret/server.toml`; none of them means a first start. Kept apart from the
 * parser (config.ts, which loads the schema libraries) so that the launcher can tell a first start
 * before loading anything heavy (first-start-key.ts).
 */
import { ConfigError } from "./config-error.ts";
import { configSearchPaths, type Env, envValue } from "./paths.ts";

export const ENV_CONFIG_BASE64 = "ATTIC_SERVER_CONFIG_BASE64";

export interface LoadConfigInput {
  /** `-f PATH`. */
  configPath?: string;
  /** `--listen ADDR`, which overrides the file. */
  listen?: string;
  env: Env;
  readFile(path: string): string;
  fileExists(path: string): boolean;
}

/** The configuration text and its source, following the lookup order; `null` when none exists. */
export function locateConfig(input: LoadConfigInput): { source: string; text: string } | null {
  if (input.configPath !== undefined) {
    const path = input.configPath;
    if (!input.fileExists(path)) throw new ConfigError(path, ["the configuration file does not exist"]);
    return { source: path, text: readConfigFile(input, path) };
  }
  const b64 = envValue(input.env, ENV_CONFIG_BASE64);
  if (b64 !== undefined) {
    const compact = b64.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact))
      throw new ConfigError(ENV_CONFIG_BASE64, ["not valid base64"]);
    return { source: ENV_CONFIG_BASE64, text: Buffer.from(compact, "base64").toString("utf8") };
  }
  const paths = configSearchPaths(input.env);
  if (!paths) return null;
  for (const path of [paths.attic, paths.garret]) {
    if (input.fileExists(path)) return { source: path, text: readConfigFile(input, path) };
  }
  return null;
}

function readConfigFile(input: LoadConfigInput, path: string): string {
  try {
    return input.readFile(path);
  } catch (e) {
    throw new ConfigError(path, [`cannot read the file: ${(e as Error).message}`]);
  }
}
