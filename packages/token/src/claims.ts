/**
 * The atticd claim set: building it for minting and reading the custom claim when verifying.
 *
 * Layout (attic `token/src/lib.rs`; what `atticadm make-token --dump-claims` prints):
 *
 *     {"exp":1680293425,"nbf":1672439425,"sub":"alice",
 *      "https://jwt.attic.rs/v1":{"caches":{"alice-*":{"r":1,"w":1,"cc":1}}}}
 *
 * The namespaced key keeps the claim Auth0-compatible. Permission values are the integers 0 and 1
 * (serde_with `BoolFromInt`); anything else makes atticd reject the whole token. The minting side
 * writes only the set bits, in the order r, w, d, cc, cr, cq, cd.
 */

import { emptyPermission, isValidCachePattern, PERMISSION_LETTERS, type Permission } from "@garret/protocol";
import type { CachePermissions } from "./attic-token.ts";
import { TokenError } from "./token-error.ts";

export const ATTIC_CLAIM = "https://jwt.attic.rs/v1";

export interface MintOptions {
  sub: string;
  validitySeconds: number;
  caches: CachePermissions;
  issuer?: string;
  audiences?: string[];
  jti?: string;
  /** Added after the attic claim; may not collide with any claim buildClaims sets itself. */
  extraClaims?: Record<string, unknown>;
  /** Unix seconds; defaults to the current time. */
  now?: number;
}

/**
 * Claims in atticadm's order: exp, nbf, [iss], sub, [aud as an array], [jti], attic claim, extras.
 * A pattern listed more than once shares one entry at its first position with the union of the
 * bits, as make-token does when a pattern is given to several flags.
 *
 * JavaScript objects list integer-like keys first, so a cache named like `42` may move ahead in
 * this object; that changes nothing (names without `*` only match exactly) and `serializeClaims`
 * keeps the given order anyway.
 */
export function buildClaims(opts: MintOptions): Record<string, unknown> {
  return JSON.parse(serializeClaims(opts)) as Record<string, unknown>;
}

/** The exact compact JSON that gets signed (and that `--dump-claims` prints). */
export function serializeClaims(opts: MintOptions): string {
  if (!Number.isFinite(opts.validitySeconds) || opts.validitySeconds < 0) {
    throw new TokenError(`Invalid token validity: ${opts.validitySeconds}`);
  }
  const now = Math.floor(opts.now ?? Date.now() / 1000);
  const parts: string[] = [];
  const put = (key: string, json: string) => parts.push(`${JSON.stringify(key)}:${json}`);

  put("exp", String(now + Math.floor(opts.validitySeconds)));
  put("nbf", String(now));
  if (opts.issuer !== undefined) put("iss", JSON.stringify(opts.issuer));
  put("sub", JSON.stringify(opts.sub));
  if (opts.audiences !== undefined) put("aud", JSON.stringify(opts.audiences));
  if (opts.jti !== undefined) put("jti", JSON.stringify(opts.jti));
  put(ATTIC_CLAIM, `{"caches":${serializeCaches(opts.caches)}}`);

  const reserved = new Set(["exp", "nbf", "iss", "sub", "aud", "jti", ATTIC_CLAIM]);
  for (const [key, value] of Object.entries(opts.extraClaims ?? {})) {
    if (reserved.has(key)) throw new TokenError(`Extra claim "${key}" collides with a standard claim`);
    put(key, JSON.stringify(value));
  }
  return `{${parts.join(",")}}`;
}

function serializeCaches(caches: CachePermissions): string {
  const merged = new Map<string, Permission>();
  for (const [pattern, permission] of caches) {
    if (!isValidCachePattern(pattern)) throw new TokenError(`Invalid cache name pattern "${pattern}"`);
    const seen = merged.get(pattern);
    if (seen) for (const letter of PERMISSION_LETTERS) seen[letter] ||= permission[letter];
    else merged.set(pattern, { ...permission });
  }
  const entries = [...merged].map(([pattern, permission]) => {
    const bits = PERMISSION_LETTERS.filter((letter) => permission[letter]).map((letter) => `"${letter}":1`);
    return `${JSON.stringify(pattern)}:{${bits.join(",")}}`;
  });
  return `{${entries.join(",")}}`;
}

/**
 * Reads `https://jwt.attic.rs/v1.caches` from a verified payload. Returns null when atticd would
 * fail to deserialize it: the claim or `caches` missing or not an object, a key that is not a
 * valid pattern, or a permission value other than the integer 0 or 1. Unknown letters are
 * ignored (serde ignores unknown fields there).
 */
export function parseAtticClaim(payload: Record<string, unknown>): CachePermissions | null {
  const ns = payload[ATTIC_CLAIM];
  if (!isPlainObject(ns)) return null;
  const caches = ns.caches;
  if (!isPlainObject(caches)) return null;

  const out: CachePermissions = [];
  for (const [pattern, value] of Object.entries(caches)) {
    if (!isValidCachePattern(pattern) || !isPlainObject(value)) return null;
    const permission = emptyPermission();
    for (const letter of PERMISSION_LETTERS) {
      const bit = value[letter];
      if (bit !== undefined && bit !== 0 && bit !== 1) return null;
      permission[letter] = bit === 1;
    }
    out.push([pattern, permission]);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
