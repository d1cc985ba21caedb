/**
 * First start ("out-of-box experience"), as atticd's `oobe.rs` does it: when garretd runs in
 * monolithic mode and finds no configuration, it writes `$XDG_CONFIG_HOME/garret/server.toml`
 * (mode 0600) with a fresh 4096-bit RS256 key, an SQLite database (`sqlite://…/server.db?mode=rwc`,
 * written into the file as atticd's first start does) and local storage under
 * the data directory, then prints a root token (sub "root", every permission on "*", valid 24
 * months) as `attic login` / `garret login` lines.
 *
 * `writeDefaultConfig` only uses the injected file functions; `runFirstStart` adds the real file
 * system and mints the token.
 */

import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NewTokenRecord } from "@garret/db";
import { PERMISSION_LETTERS, type Permission } from "@garret/protocol";
import {
  type CachePermissions,
  createTokenAuthority,
  generateRs256PrivateKeyPem,
  generateRs256PrivateKeyPemAsync,
} from "@garret/token";
import { cachesJson } from "../services/tokens.ts";
import { commandForNewShell } from "./command-on-path.ts";
import { ConfigError } from "./config-error.ts";
import { RECOMMENDED_CHUNKING } from "./config-schema.ts";
import { EMBEDDED_SQLITE_FILE } from "./embedded-database.ts";
import { parseListen } from "./listen.ts";
import { configSearchPaths, dataDirectory, type Env } from "./paths.ts";

export const OOBE_LISTEN = "[::]:8080";

export interface OobeIo {
  env: Env;
  /** Creates the file, failing if it exists, with the given permission bits. */
  writeFile(path: string, contents: string, mode: number): void;
  /** Creates a directory and its parents; no error if it exists. */
  mkdir(path: string): void;
  /** Defaults to a 4096-bit key, which takes a second or so. */
  generatePrivateKeyPem?: () => string;
  /** Unix milliseconds; defaults to the clock. */
  now?: number;
}

export interface RootTokenRequest {
  sub: "root";
  validitySeconds: number;
  caches: CachePermissions;
}

export interface DefaultConfig {
  /** The written server.toml. */
  path: string;
  contents: string;
  dataDir: string;
  /** The port clients reach on localhost. */
  port: number;
  /** PKCS#1 PEM of the key written into the file. */
  rs256PrivateKeyPem: string;
  /** What to mint for the `attic login` line. */
  rootToken: RootTokenRequest;
}

/** Writes the first-start configuration and returns what is needed to mint the root token. */
export function writeDefaultConfig(io: OobeIo): DefaultConfig {
  const paths = configSearchPaths(io.env);
  const dataDir = dataDirectory(io.env);
  if (!paths || !dataDir) {
    throw new ConfigError("first start", [
      "no configuration was found and none can be written: set HOME (or XDG_CONFIG_HOME and GARRET_DATA_DIR), or pass -f PATH",
    ]);
  }
  const pem = (io.generatePrivateKeyPem ?? (() => generateRs256PrivateKeyPem(4096)))();
  const storagePath = join(dataDir, "storage");
  const contents = renderConfig({
    storagePath,
    dataDir,
    keyBase64: Buffer.from(pem, "utf8").toString("base64"),
  });

  io.mkdir(dirname(paths.garret));
  io.mkdir(storagePath);
  io.writeFile(paths.garret, contents, 0o600);

  const all = Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, true])) as Permission;
  return {
    path: paths.garret,
    contents,
    dataDir,
    port: parseListen(OOBE_LISTEN).port,
    rs256PrivateKeyPem: pem,
    rootToken: {
      sub: "root",
      validitySeconds: twentyFourMonthsSeconds(io.now ?? Date.now()),
      caches: [["*", all]],
    },
  };
}

/** atticd adds 24 calendar months to the current time. */
function twentyFourMonthsSeconds(nowMs: number): number {
  const later = new Date(nowMs);
  later.setUTCMonth(later.getUTCMonth() + 24);
  return Math.floor((later.getTime() - nowMs) / 1000);
}

/**
 * The message printed after the first start (atticd prints it on stderr). `garret` and
 * `garretadm` are spelled as they work in a new shell (command-on-path.ts); without
 * `npm run install-bins` that is an absolute path, and the message says how to shorten it.
 */
export function firstStartMessage(opts: {
  path: string;
  port: number;
  token: string;
  garret?: string;
  garretadm?: string;
}): string {
  const url = `http://localhost:${opts.port}`;
  const garret = opts.garret ?? "garret";
  const garretadm = opts.garretadm ?? "garretadm";
  const notInstalled =
    garret === "garret"
      ? []
      : ["(Run `npm run install-bins` in the checkout to put garret, garretadm and garretd on PATH.)", ""];
  return [
    "",
    "-----------------",
    "Welcome to garret!",
    "",
    "A simple setup with an embedded database and local storage has been written to:",
    "",
    `    ${opts.path}`,
    "",
    "Log into this server with either client:",
    "",
    `    attic login local ${url} ${opts.token}`,
    `    ${garret} login local ${url} ${opts.token}`,
    "",
    ...notInstalled,
    "Then create a cache, push to it and let Nix use it:",
    "",
    `    ${garret} cache create demo`,
    `    ${garret} push demo ./result`,
    `    ${garret} use demo`,
    "",
    `More tokens: ${garretadm} make-token --help`,
    "The token above can do everything on every cache; keep it safe.",
    "-----------------",
    "",
  ].join("\n");
}

/**
 * First start on the real file system: writes the file, mints the root token (with a jti, so the
 * caller can record it once the database is migrated, and it can be listed and revoked like any
 * other), returns the message.
 */
export async function runFirstStart(
  env: Env,
  listen?: string,
  /** The key, generated ahead (first-start-key.ts); generated here when absent. */
  key?: Promise<string>,
): Promise<{ path: string; message: string; rootToken: NewTokenRecord }> {
  const pem = await (key ?? generateRs256PrivateKeyPemAsync(4096));
  const written = writeDefaultConfig({
    env,
    generatePrivateKeyPem: () => pem,
    writeFile: (path, contents, mode) => writeFileSync(path, contents, { mode, flag: "wx" }),
    mkdir: (path) => {
      mkdirSync(path, { recursive: true });
    },
  });
  const authority = await createTokenAuthority({ rs256PrivateKeyPem: written.rs256PrivateKeyPem });
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const token = await authority.mint({ ...written.rootToken, jti, now });
  return {
    path: written.path,
    rootToken: {
      jti,
      sub: written.rootToken.sub,
      permissions: JSON.stringify(cachesJson(written.rootToken.caches)),
      admin: false,
      expiresAt: now + written.rootToken.validitySeconds,
      origin: "first-start",
      mintedBy: null,
    },
    message: firstStartMessage({
      path: written.path,
      port: listen ? parseListen(listen).port : written.port,
      token,
      garret: commandForNewShell("garret", env),
      garretadm: commandForNewShell("garretadm", env),
    }),
  };
}

function renderConfig(v: { storagePath: string; dataDir: string; keyBase64: string }): string {
  const c = RECOMMENDED_CHUNKING;
  return `# garret server configuration, written on the first start.
#
# This file uses atticd's server.toml format, so it also documents what an atticd
# deployment needs; an existing /etc/atticd or ~/.config/attic/server.toml works unchanged.
# It holds the JWT signing key, so keep it private (mode 0600).
#
# For a lasting setup: set api-endpoint, allowed-hosts, a PostgreSQL [database] url
# and, if you like, S3 [storage]. Check a change with: garretd --mode check-config

# Socket address to listen on.
listen = ${tomlString(OOBE_LISTEN)}

# Allowed Host headers; empty allows all. Set this in production.
allowed-hosts = []

# The public URL of this server, ending with "/"; unset means "derived from the Host header".
#api-endpoint = "https://cache.example.com/"

[database]
# An SQLite file in the data directory (one garretd process at a time; fine for a
# single machine). For several processes or a large store use PostgreSQL:
url = ${tomlString(`sqlite://${join(v.dataDir, EMBEDDED_SQLITE_FILE)}?mode=rwc`)}
#url = "postgresql://garret@localhost/garret"

[storage]
type = "local"
path = ${tomlString(v.storagePath)}

# S3-compatible storage instead:
#type = "s3"
#region = "us-east-1"
#bucket = "my-nix-cache"
#endpoint = "https://s3.example.com"
#[storage.credentials]
#access_key_id = "..."
#secret_access_key = "..."

# Content-defined chunking of uploaded NARs. Changing these later makes new uploads
# deduplicate poorly against existing chunks.
[chunking]
# NARs smaller than this are stored whole (0 disables chunking).
nar-size-threshold = ${c.narSizeThreshold}
min-size = ${c.minSize}
avg-size = ${c.avgSize}
max-size = ${c.maxSize}

[compression]
# none, brotli, zstd or xz.
type = "zstd"

[garbage-collection]
# How often garbage collection runs.
interval = "12 hours"
# Default retention of unaccessed paths; "0s" keeps them forever. Caches can override it.
#default-retention-period = "6 months"

[jwt]
# Require and check the iss / aud claims of tokens.
#token-bound-issuer = "garret"
#token-bound-audiences = ["garret"]

[jwt.signing]
# Base64 of an RSA private key PEM; "openssl genrsa -traditional 4096 | base64 -w0" makes one.
token-rs256-secret-base64 = ${tomlString(v.keyBase64)}
`;
}

/** A TOML basic string. JSON's escapes are a subset of TOML's, so JSON.stringify fits. */
function tomlString(s: string): string {
  return JSON.stringify(s);
}
