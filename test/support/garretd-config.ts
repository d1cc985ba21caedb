/**
 * The server.toml every harness starts garretd with (the one-process test harness, the scaled-out
 * cluster tests and the benchmark): database, storage, chunking, compression, GC interval and a fresh
 * HS256 key, plus a token authority on that key that mints tokens as `garretadm make-token` does.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import { grant } from "./grants.ts";
import type { S3rverHandle } from "./s3rver.ts";

export interface ChunkingSettings {
  narSizeThreshold: number;
  minSize: number;
  avgSize: number;
  maxSize: number;
}

/** Chunk every NAR (threshold 1), so that small test NARs exercise the chunked path. */
export const TEST_CHUNKING: ChunkingSettings = {
  narSizeThreshold: 1,
  minSize: 16_384,
  avgSize: 65_536,
  maxSize: 262_144,
};

/** atticd's defaults, what a deployment without a [chunking] table gets. */
export const ATTICD_CHUNKING: ChunkingSettings = { ...TEST_CHUNKING, narSizeThreshold: 65_536 };

export interface ServerTomlOptions {
  /** Where the file is written. */
  configPath: string;
  /** Omitted: the embedded SQLite database in the data directory. */
  databaseUrl?: string;
  storage: { type: "local"; path: string } | { type: "s3"; s3: Omit<S3rverHandle, "stop"> };
  chunking?: ChunkingSettings;
  compression?: "none" | "zstd" | "brotli" | "xz";
  /** `[garbage-collection] interval`; default "0s" (no collections unless a test runs one). */
  gcInterval?: string;
  requireProofOfPossession?: boolean;
  /** Written at the top level, before the tables. */
  extraToml?: string;
}

export interface ServerConfig {
  configPath: string;
  tokens: TokenAuthority;
  /** A token with every permission on every cache. */
  rootToken: string;
  /** The HS256 secret, base64 (to look for in logs). */
  secretBase64: string;
  mintToken(sub: string, grants: Record<string, string[]>, validitySeconds?: number): Promise<string>;
}

export async function writeServerToml(opts: ServerTomlOptions): Promise<ServerConfig> {
  const secret = randomBytes(32);
  const lines: string[] = [];
  if (opts.requireProofOfPossession === false) lines.push("require-proof-of-possession = false");
  if (opts.extraToml) lines.push(opts.extraToml);
  lines.push("");
  if (opts.databaseUrl !== undefined)
    lines.push("[database]", `url = ${JSON.stringify(opts.databaseUrl)}`, "");
  if (opts.storage.type === "s3") {
    const s3 = opts.storage.s3;
    lines.push(
      "[storage]",
      'type = "s3"',
      `region = ${JSON.stringify(s3.region)}`,
      `bucket = ${JSON.stringify(s3.bucket)}`,
      // "localhost", not 127.0.0.1: Nix follows the presigned-URL redirect and curl would send the
      // netrc credentials of 127.0.0.1 along, which S3 refuses next to a signed query string.
      `endpoint = ${JSON.stringify(s3.endpoint.replace("127.0.0.1", "localhost"))}`,
      "[storage.credentials]",
      `access_key_id = ${JSON.stringify(s3.credentials.accessKeyId)}`,
      `secret_access_key = ${JSON.stringify(s3.credentials.secretAccessKey)}`,
      "",
    );
  } else {
    lines.push("[storage]", 'type = "local"', `path = ${JSON.stringify(opts.storage.path)}`, "");
  }
  const chunking = opts.chunking ?? TEST_CHUNKING;
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
  await writeFile(opts.configPath, lines.join("\n"));

  const tokens = await createTokenAuthority({ hs256Secret: secret });
  const mintToken = (sub: string, grants: Record<string, string[]>, validitySeconds = 3600) =>
    tokens.mint({
      sub,
      validitySeconds,
      caches: Object.entries(grants).map(([pattern, letters]) => [pattern, grant(letters)]),
    });
  return {
    configPath: opts.configPath,
    tokens,
    secretBase64: secret.toString("base64"),
    mintToken,
    rootToken: await mintToken("root", { "*": [...PERMISSION_LETTERS] }, 7 * 24 * 3600),
  };
}
