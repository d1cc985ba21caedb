/**
 * The client configuration file, compatible with attic's `$XDG_CONFIG_HOME/attic/config.toml`
 * (attic `client/src/config.rs`), so an existing `attic login` works unchanged:
 *
 *   default-server = "local"
 *
 *   [servers.local]
 *   endpoint = "http://localhost:8080"
 *   token = "eyJ..."
 *
 *   [servers.ci]
 *   endpoint = "https://attic.example/"
 *   token-file = "/run/secrets/attic-token"
 *
 * The parsed document is kept as-is and edited in place so keys this client does not know survive a
 * rewrite. Writes go through a temporary file with mode 0600 (the file holds tokens).
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { isValidCacheName } from "@garret/protocol";
import { parse, stringify } from "smol-toml";

export interface ServerEntry {
  endpoint: string;
  token?: string;
  tokenFile?: string;
}

export interface ClientConfig {
  path: string;
  /** The whole TOML document, unknown keys included. */
  doc: Record<string, unknown>;
}

export class ConfigError extends Error {}

export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return base;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), "attic", "config.toml");
}

export async function loadConfig(path: string): Promise<ClientConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { path, doc: {} };
    throw e;
  }
  try {
    return { path, doc: parse(text) as Record<string, unknown> };
  } catch (e) {
    throw new ConfigError(`cannot parse ${path}: ${(e as Error).message}`);
  }
}

export async function saveConfig(config: ClientConfig): Promise<void> {
  await mkdir(dirname(config.path), { recursive: true });
  const tmp = `${config.path}.tmp-${process.pid}`;
  await writeFile(tmp, stringify(config.doc), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, config.path);
}

function serversTable(config: ClientConfig): Record<string, Record<string, unknown>> {
  const servers = config.doc.servers;
  if (servers === undefined) return {};
  if (typeof servers !== "object" || servers === null || Array.isArray(servers)) {
    throw new ConfigError(`${config.path}: "servers" must be a table`);
  }
  return servers as Record<string, Record<string, unknown>>;
}

export function serverNames(config: ClientConfig): string[] {
  return Object.keys(serversTable(config));
}

export function getServer(config: ClientConfig, name: string): ServerEntry | undefined {
  const raw = serversTable(config)[name];
  if (raw === undefined) return undefined;
  if (typeof raw.endpoint !== "string")
    throw new ConfigError(`${config.path}: servers.${name}.endpoint must be a string`);
  const entry: ServerEntry = { endpoint: raw.endpoint };
  if (typeof raw.token === "string") entry.token = raw.token;
  if (typeof raw["token-file"] === "string") entry.tokenFile = raw["token-file"];
  return entry;
}

/** `default-server`, else the only (or first) configured server, as attic chooses. */
export function defaultServerName(config: ClientConfig): string | undefined {
  const d = config.doc["default-server"];
  if (typeof d === "string") return d;
  return serverNames(config)[0];
}

/**
 * Adds or overwrites a server. Overwriting without a token keeps the old credentials (attic's
 * behaviour); the server becomes the default when asked or when it is the only one.
 */
export function setServer(
  config: ClientConfig,
  name: string,
  endpoint: string,
  token: string | undefined,
  setDefault: boolean,
): void {
  if (!isValidCacheName(name))
    throw new ConfigError(`invalid server name "${name}" (use letters, digits, _, + and -)`);
  const servers = serversTable(config);
  const entry: Record<string, unknown> = servers[name] ?? {};
  entry.endpoint = endpoint;
  if (token !== undefined) {
    entry.token = token;
    delete entry["token-file"];
  }
  servers[name] = entry;
  config.doc.servers = servers;
  if (setDefault || Object.keys(servers).length === 1) config.doc["default-server"] = name;
}

/** The token to send: inline, or the trimmed content of `token-file`; undefined means anonymous. */
export async function resolveToken(entry: ServerEntry): Promise<string | undefined> {
  if (entry.token !== undefined) return entry.token;
  if (entry.tokenFile !== undefined) {
    try {
      return (await readFile(entry.tokenFile, "utf8")).trim();
    } catch (e) {
      throw new ConfigError(`cannot read token-file ${entry.tokenFile}: ${(e as Error).message}`);
    }
  }
  return undefined;
}

export interface CacheRef {
  server?: string;
  cache: string;
}

/** `cache` or `server:cache`; both names follow attic's cache-name rules. */
export function parseCacheRef(text: string): CacheRef {
  const colon = text.indexOf(":");
  const server = colon >= 0 ? text.slice(0, colon) : undefined;
  const cache = colon >= 0 ? text.slice(colon + 1) : text;
  if (server !== undefined && !isValidCacheName(server))
    throw new ConfigError(`invalid server name "${server}" in "${text}"`);
  if (!isValidCacheName(cache)) throw new ConfigError(`invalid cache name "${cache}" in "${text}"`);
  return server === undefined ? { cache } : { server, cache };
}

export interface ResolvedCache {
  serverName: string;
  server: ServerEntry;
  cache: string;
}

export function resolveCacheRef(config: ClientConfig, text: string): ResolvedCache {
  const ref = parseCacheRef(text);
  const serverName = ref.server ?? defaultServerName(config);
  if (serverName === undefined) {
    throw new ConfigError("no server configured; run `garret login NAME ENDPOINT [TOKEN]` first");
  }
  const server = getServer(config, serverName);
  if (!server) {
    const known = serverNames(config);
    throw new ConfigError(
      `server "${serverName}" is not configured${known.length ? ` (known: ${known.join(", ")})` : ""}`,
    );
  }
  return { serverName, server, cache: ref.cache };
}
