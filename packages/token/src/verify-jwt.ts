/**
 * Verifies one compact JWT exactly as atticd does (jwt-simple 0.11.9 with attic's options) and
 * turns it into an AtticToken. Never throws: every failure becomes a reason string.
 *
 * Rules: three unpadded base64url segments, header at most 8192 characters, `alg` equal to the
 * configured algorithm (so `none` and HS256/RS256 confusion are refused before any key is used),
 * `typ` absent or `JWT`/`*+JWT` in any case, zero clock tolerance (`exp < now`, `nbf > now` and
 * `iat > now` all reject; no `exp` means no expiry), the bound issuer and audiences, and the attic
 * claim (see claims.ts).
 */

import type { webcrypto } from "node:crypto";
import { type AtticToken, createAtticToken } from "./attic-token.ts";
import { parseAtticClaim } from "./claims.ts";
import { deepFreeze } from "./deep-freeze.ts";
import { loadJose } from "./jose.ts";
import type { TokenAlgorithm } from "./keys.ts";

export interface TokenBounds {
  issuer?: string;
  /** When set (even to an empty list, as atticd), `aud` must be present and share a member. */
  audiences?: string[];
}

export type VerifyResult =
  | { ok: true; token: AtticToken }
  /**
   * `retryAt`: Unix seconds from which the same token might pass (it was not yet valid).
   * `expiredAt`: the `exp` of an authentic token that has expired, which may be told to the caller
   * (the holder of the token can read it anyway).
   */
  | { ok: false; reason: string; retryAt?: number; expiredAt?: number };

export interface VerifyContext {
  alg: TokenAlgorithm;
  key: webcrypto.CryptoKey;
  bounds: TokenBounds;
  /** Current Unix time in seconds, fractional like jwt-simple's clock. */
  now: number;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const MAX_HEADER_CHARS = 8192;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function verifyJwt(jwt: string, ctx: VerifyContext): Promise<VerifyResult> {
  const segments = jwt.split(".");
  if (segments.length !== 3 || !segments.every((s) => SEGMENT.test(s))) {
    return fail("not a compact JWS with base64url segments");
  }
  const [encodedHeader = ""] = segments;
  if (encodedHeader.length > MAX_HEADER_CHARS) return fail("header too long");

  const header = decodeJsonObject(encodedHeader);
  if (header === null) return fail("header is not a JSON object");
  if (header.alg !== ctx.alg) return fail(`algorithm ${String(header.alg)} is not ${ctx.alg}`);
  if (header.typ !== undefined && !isJwtType(header.typ)) return fail("typ is not JWT");
  // jose would accept an unencoded payload (`b64: false`); jwt-simple has no such mode.
  if (header.b64 !== undefined && header.b64 !== true) return fail("unencoded payloads are not accepted");

  let payloadBytes: Uint8Array;
  const { compactVerify } = await loadJose();
  try {
    ({ payload: payloadBytes } = await compactVerify(jwt, ctx.key, { algorithms: [ctx.alg] }));
  } catch {
    return fail("signature verification failed");
  }
  const payload = parseJsonObject(payloadBytes);
  if (payload === null) return fail("payload is not a JSON object");

  const claims = readStandardClaims(payload);
  if (typeof claims === "string") return fail(claims);
  const { exp, nbf, iat } = claims;
  if (exp !== undefined && exp < ctx.now) {
    return { ok: false, reason: `token expired at ${new Date(exp * 1000).toISOString()}`, expiredAt: exp };
  }
  const validFrom = Math.max(nbf ?? 0, iat ?? 0);
  if (nbf !== undefined && nbf > ctx.now) return fail("token is not valid yet", validFrom);
  if (iat !== undefined && iat > ctx.now) return fail("token was issued in the future", validFrom);

  const { issuer, audiences } = ctx.bounds;
  if (issuer !== undefined && claims.iss !== issuer) return fail("issuer mismatch");
  if (audiences !== undefined && !claims.aud?.some((a) => audiences.includes(a)))
    return fail("audience mismatch");

  const caches = parseAtticClaim(payload);
  if (caches === null) return fail("missing or invalid attic claim");

  return {
    ok: true,
    token: createAtticToken({
      ...(claims.sub !== undefined ? { sub: claims.sub } : {}),
      ...(claims.jti !== undefined ? { jti: claims.jti } : {}),
      ...(exp !== undefined ? { exp } : {}),
      caches,
      claims: deepFreeze(payload),
    }),
  };
}

function fail(reason: string, retryAt?: number): VerifyResult {
  return retryAt === undefined ? { ok: false, reason } : { ok: false, reason, retryAt };
}

function isJwtType(typ: unknown): boolean {
  if (typeof typ !== "string") return false;
  const upper = typ.toUpperCase();
  return upper === "JWT" || upper.endsWith("+JWT");
}

interface StandardClaims {
  exp?: number;
  nbf?: number;
  iat?: number;
  iss?: string;
  sub?: string;
  jti?: string;
  aud?: string[];
}

/** Type-checks the registered claims as jwt-simple's `JWTClaims` deserializer would; a string is an error. */
function readStandardClaims(payload: Record<string, unknown>): StandardClaims | string {
  const out: StandardClaims = {};
  for (const name of ["exp", "nbf", "iat"] as const) {
    const value = payload[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      return `${name} is not a timestamp`;
    out[name] = Math.trunc(value);
  }
  for (const name of ["iss", "sub", "jti", "nonce"] as const) {
    const value = payload[name];
    if (value !== undefined && typeof value !== "string") return `${name} is not a string`;
    if (name !== "nonce" && typeof value === "string") out[name] = value;
  }
  const aud = payload.aud;
  if (typeof aud === "string") out.aud = [aud];
  else if (Array.isArray(aud)) {
    if (!aud.every((a): a is string => typeof a === "string")) return "aud is not a string or a string array";
    out.aud = aud;
  } else if (aud !== undefined) return "aud is not a string or a string array";
  return out;
}

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  return parseJsonObject(Buffer.from(segment, "base64url"));
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
