/**
 * garretd's configuration: atticd's `server.toml`, read the way atticd reads it, turned into a
 * camelCase `Config`. `loadConfig` is pure (files and environment are injected) so it is tested
 * without touching the process.
 *
 * Source precedence: `-f PATH` → `ATTIC_SERVER_CONFIG_BASE64` (base64 of the TOML) →
 * `$XDG_CONFIG_HOME/attic/server.toml` → `$XDG_CONFIG_HOME/garret/server.toml`; none → `null`, and
 * the caller runs the first start (oobe.ts). Values: built-in defaults < file < environment
 * fallbacks < `--listen`.
 *
 * Differences from atticd (for the README):
 * - `[database] url` may be omitted (and with it `[database]`): without it and without
 *   `ATTIC_SERVER_DATABASE_URL`, garret uses the SQLite file `<data dir>/server.db` (created if
 *   missing), where the data dir is `$GARRET_DATA_DIR`, else `$XDG_DATA_HOME/garret` (default
 *   `~/.local/share/garret`); a data dir that holds the PGlite database of garret before SQLite
 *   (`db/`) and no `server.db` is refused with a message saying how to move (embedded-database.ts).
 *   As in atticd, a url in the file wins over the environment variable.
 * - `sqlite://PATH?mode=rwc` and `sqlite:PATH` URLs are atticd's (sqlx's) SQLite URLs; `mode=ro` is
 *   refused (garret writes).
 * - `[chunking]` may be omitted; attic's recommended values apply (threshold 65536, min 16384,
 *   avg 65536, max 262144). When present, all four keys are required, sizes must lie within FastCDC's
 *   limits and min <= avg <= max must hold (atticd would only fail at the first upload).
 * - Unknown keys are rejected in every table, not only at the top level.
 * - An invalid `ATTIC_SERVER_TOKEN_*_BASE64` value is an error naming the variable; atticd silently
 *   skips it and tries the next one.
 * - Key material is checked when the file loads (RSA keys need at least 2048 bits), and all
 *   problems are reported at once.
 * - A service without HOME (systemd DynamicUser) gets its data directory from $STATE_DIRECTORY.
 * - An optional `[garret]` section configures garret's extensions (garret-config.ts: token
 *   revocation refresh, OIDC trust policies); atticd rejects a file that has it.
 */

import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError } from "./config-error.ts";
import {
  databaseUrlProblem,
  describeIssues,
  issueMessage,
  RECOMMENDED_CHUNKING,
  type ServerToml,
  serverTomlSchema,
} from "./config-schema.ts";
import { EMBEDDED_SQLITE_FILE } from "./embedded-database.ts";
import { type GarretConfig, resolveGarretConfig } from "./garret-config.ts";
import { decodeSigningKey, type JwtSigning, SIGNING_ENV_VARS } from "./jwt-signing.ts";
import { type ListenAddress, parseListen } from "./listen.ts";
import { type LoadConfigInput, locateConfig } from "./locate-config.ts";
import { dataDirectory, type Env, envValue } from "./paths.ts";
import { Secret } from "./secret.ts";
import { isSqliteUrl, parseSqliteUrl } from "./sqlite-url.ts";

export { ConfigError } from "./config-error.ts";
export { RECOMMENDED_CHUNKING } from "./config-schema.ts";
export { type JwtSigning, tokenKeyConfig } from "./jwt-signing.ts";
export { formatListen, type ListenAddress, parseListen } from "./listen.ts";
export { ENV_CONFIG_BASE64, type LoadConfigInput, locateConfig } from "./locate-config.ts";
export { configSearchPaths, dataDirectory, type Env } from "./paths.ts";
export { Secret } from "./secret.ts";
export const ENV_DATABASE_URL = "ATTIC_SERVER_DATABASE_URL";

export type CompressionType = "none" | "brotli" | "zstd" | "xz";

export type DatabaseConfig =
  | { kind: "postgres"; url: Secret<string>; heartbeat: boolean }
  | {
      kind: "sqlite";
      path: string;
      mode: "rw" | "rwc";
      /** No url configured: garret's own file in the data directory. */
      embedded: boolean;
    };

export type StorageConfig =
  | { type: "local"; path: string }
  | {
      type: "s3";
      region: string;
      bucket: string;
      endpoint?: string;
      credentials?: { accessKeyId: string; secretAccessKey: Secret<string> };
    };

export interface ChunkingConfig {
  narSizeThreshold: number;
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export interface Config {
  listen: ListenAddress;
  /** Exact `Host` header values; empty allows all. */
  allowedHosts: string[];
  /** Ends with "/". Unset: synthesised from the request's Host. */
  apiEndpoint?: string;
  /** Ends with "/". Unset: same as apiEndpoint. */
  substituterEndpoint?: string;
  softDeleteCaches: boolean;
  requireProofOfPossession: boolean;
  /** Cap on the upload preamble (the NarInfo JSON), in bytes. */
  maxNarInfoSize: number;
  database: DatabaseConfig;
  storage: StorageConfig;
  chunking: ChunkingConfig;
  /** level unset: the per-type default (brotli 5, zstd 8, xz 2). */
  compression: { type: CompressionType; level?: number };
  /** 0 disables the periodic GC (`--mode garbage-collector-once` still works) or the default retention. */
  garbageCollection: { intervalSeconds: number; defaultRetentionPeriodSeconds: number };
  jwt: { boundIssuer?: string; boundAudiences?: string[]; signing: JwtSigning };
  /** garret's extensions (`[garret]`); defaults when the section is absent. */
  garret: GarretConfig;
  /** Where the configuration came from, for logs: a file path or `ATTIC_SERVER_CONFIG_BASE64`. */
  source: string;
  /** garret's data directory (embedded SQLite, first-start storage); "" when undeterminable and unused. */
  dataDir: string;
}

export const DEFAULTS = {
  listen: "[::]:8080",
  maxNarInfoSize: 1_048_576,
  gcIntervalSeconds: 12 * 3600,
  compression: "zstd",
} as const;

/** Finds and parses the configuration; `null` when there is none (time for the first start). */
export function loadConfig(input: LoadConfigInput): Config | null {
  const found = locateConfig(input);
  if (!found) return null;
  return parseConfig(found.text, { source: found.source, env: input.env, listen: input.listen });
}

/** Parses TOML text into a Config; throws ConfigError listing every problem. */
export function parseConfig(text: string, opts: { source: string; env: Env; listen?: string }): Config {
  const { source } = opts;
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    // smol-toml's message ends with an excerpt of the file, which may hold a secret: keep only the reason.
    const reason = e.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "") ?? "syntax error";
    throw new ConfigError(source, [`TOML syntax error at line ${e.line}, column ${e.column}: ${reason}`]);
  }
  const parsed = serverTomlSchema.safeParse(raw, { error: issueMessage });
  if (!parsed.success) throw new ConfigError(source, describeIssues(parsed.error.issues));
  const problems: string[] = [];
  const config = resolve(parsed.data, opts, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

function resolve(
  toml: ServerToml,
  opts: { source: string; env: Env; listen?: string },
  problems: string[],
): Config {
  const { env } = opts;
  const dataDir = dataDirectory(env);

  let listen = toml.listen ?? parseListen(DEFAULTS.listen);
  if (opts.listen !== undefined) {
    try {
      listen = parseListen(opts.listen);
    } catch (e) {
      problems.push(`--listen: ${(e as Error).message}`);
    }
  }

  const database = resolveDatabase(toml, env, dataDir, problems);
  const signing = toml.jwt?.signing ?? signingFromEnv(env, problems);

  const c = toml.chunking;
  const gc = toml["garbage-collection"];
  const jwt = toml.jwt;
  const storage: StorageConfig =
    toml.storage.type === "local"
      ? { type: "local", path: toml.storage.path }
      : {
          type: "s3",
          region: toml.storage.region,
          bucket: toml.storage.bucket,
          ...(toml.storage.endpoint !== undefined && { endpoint: toml.storage.endpoint }),
          ...(toml.storage.credentials && {
            credentials: {
              accessKeyId: toml.storage.credentials.access_key_id,
              secretAccessKey: toml.storage.credentials.secret_access_key,
            },
          }),
        };

  return {
    listen,
    allowedHosts: toml["allowed-hosts"] ?? [],
    ...(toml["api-endpoint"] !== undefined && { apiEndpoint: toml["api-endpoint"] }),
    ...(toml["substituter-endpoint"] !== undefined && { substituterEndpoint: toml["substituter-endpoint"] }),
    softDeleteCaches: toml["soft-delete-caches"] ?? false,
    requireProofOfPossession: toml["require-proof-of-possession"] ?? true,
    maxNarInfoSize: toml["max-nar-info-size"] ?? DEFAULTS.maxNarInfoSize,
    database,
    storage,
    chunking: c
      ? {
          narSizeThreshold: c["nar-size-threshold"],
          minSize: c["min-size"],
          avgSize: c["avg-size"],
          maxSize: c["max-size"],
        }
      : { ...RECOMMENDED_CHUNKING },
    compression: {
      type: toml.compression?.type ?? DEFAULTS.compression,
      ...(toml.compression?.level !== undefined && { level: toml.compression.level }),
    },
    garbageCollection: {
      intervalSeconds: gc?.interval ?? DEFAULTS.gcIntervalSeconds,
      defaultRetentionPeriodSeconds: gc?.["default-retention-period"] ?? 0,
    },
    jwt: {
      ...(jwt?.["token-bound-issuer"] !== undefined && { boundIssuer: jwt["token-bound-issuer"] }),
      ...(jwt?.["token-bound-audiences"] !== undefined && {
        boundAudiences: [...new Set(jwt["token-bound-audiences"])],
      }),
      // Placeholder only when a problem was recorded, and then the Config is never returned.
      signing: signing ?? { kind: "rs256-pubkey", publicKeyPem: "" },
    },
    garret: resolveGarretConfig(toml.garret),
    source: opts.source,
    dataDir: dataDir ?? "",
  };
}

function resolveDatabase(
  toml: ServerToml,
  env: Env,
  dataDir: string | undefined,
  problems: string[],
): DatabaseConfig {
  const heartbeat = toml.database?.heartbeat ?? false;
  if (toml.database?.url) return fromUrl(toml.database.url, heartbeat);
  const fromEnv = envValue(env, ENV_DATABASE_URL);
  if (fromEnv !== undefined) {
    const problem = databaseUrlProblem(fromEnv);
    if (problem) {
      problems.push(`${ENV_DATABASE_URL}: ${problem}`);
      return { kind: "postgres", url: new Secret(fromEnv), heartbeat };
    }
    return fromUrl(new Secret(fromEnv), heartbeat);
  }
  if (dataDir === undefined) {
    problems.push(
      "cannot determine the data directory for the embedded database: set GARRET_DATA_DIR or HOME",
    );
  }
  return { kind: "sqlite", path: `${dataDir ?? ""}/${EMBEDDED_SQLITE_FILE}`, mode: "rwc", embedded: true };
}

/** A checked URL (databaseUrlProblem found nothing wrong) as a database configuration. */
function fromUrl(url: Secret<string>, heartbeat: boolean): DatabaseConfig {
  const text = url.expose();
  if (!isSqliteUrl(text)) return { kind: "postgres", url, heartbeat };
  const location = parseSqliteUrl(text);
  if (typeof location === "string") throw new TypeError(location);
  return { kind: "sqlite", path: location.path, mode: location.mode, embedded: false };
}

function signingFromEnv(env: Env, problems: string[]): JwtSigning | undefined {
  for (const [name, key] of SIGNING_ENV_VARS) {
    const value = envValue(env, name);
    if (value === undefined) continue;
    const r = decodeSigningKey(key, value);
    if (r.ok) return r.signing;
    problems.push(`${name}: ${r.problem}`);
    return undefined;
  }
  problems.push(NO_SIGNING_KEY);
  return undefined;
}

const NO_SIGNING_KEY = `jwt.signing: no JWT signing key is configured. Set exactly one of these in a [jwt.signing] table:
  token-rs256-secret-base64 = "<base64 of an RSA private key PEM>"   (signs and verifies tokens)
  token-rs256-pubkey-base64 = "<base64 of an RSA public key PEM>"    (verifies only; no token minting)
  token-hs256-secret-base64 = "<base64 of an HMAC secret>"           (signs and verifies tokens)
or set one of the environment variables ${SIGNING_ENV_VARS.map(([n]) => n).join(", ")} (tried in that order).
A new RS256 key: openssl genrsa -traditional 4096 | base64 -w0`;
