/**
 * The server's token authority: verifies incoming tokens (with a result cache, since every
 * request carries one) and mints new ones for `garretadm make-token`.
 */

import type { AtticToken } from "./attic-token.ts";
import { type MintOptions, serializeClaims } from "./claims.ts";
import { loadJose } from "./jose.ts";
import { loadTokenKeys, type TokenAlgorithm, type TokenKeyConfig } from "./keys.ts";
import { LruCache } from "./lru-cache.ts";
import { TokenError } from "./token-error.ts";
import { type TokenBounds, type VerifyResult, verifyJwt } from "./verify-jwt.ts";

export interface TokenAuthority {
  readonly alg: TokenAlgorithm;
  readonly canSign: boolean;
  /** The verified token, or null: an unusable token makes the request anonymous, never an error. */
  verify(jwt: string): Promise<AtticToken | null>;
  /**
   * Like verify, with the reason for a rejection (for debug logs; never show it to clients, except
   * `expiredAt`, which only an authentic token yields).
   */
  verifyWithReason(jwt: string): Promise<VerifyResult>;
  /** Compact JWT with header `{"alg":…,"typ":"JWT"}`; iss/aud default to the bounds. */
  mint(opts: MintOptions): Promise<string>;
}

export interface TokenAuthorityOptions {
  /** Current Unix time in seconds (may be fractional). Defaults to the system clock. */
  now?: () => number;
  /** Upper bound on cached verification results, split 80/20 between valid and rejected tokens. */
  cacheEntries?: number;
}

type CachedRejection = { reason: string; retryAt: number; expiredAt?: number };

// Longer strings are verified every time rather than letting huge headers pin memory.
const MAX_CACHED_TOKEN_CHARS = 16 * 1024;

export async function createTokenAuthority(
  keys: TokenKeyConfig,
  bounds: TokenBounds = {},
  options: TokenAuthorityOptions = {},
): Promise<TokenAuthority> {
  const { alg, verifyKey, signKey } = await loadTokenKeys(keys);
  const now = options.now ?? (() => Date.now() / 1000);
  const cacheEntries = options.cacheEntries ?? 10_000;
  // Separate caches so a flood of garbage tokens cannot evict the valid ones.
  const accepted = new LruCache<AtticToken>(Math.ceil(cacheEntries * 0.8));
  const rejected = new LruCache<CachedRejection>(Math.floor(cacheEntries * 0.2));
  const frozenBounds: TokenBounds = {
    ...(bounds.issuer !== undefined ? { issuer: bounds.issuer } : {}),
    ...(bounds.audiences !== undefined ? { audiences: [...bounds.audiences] } : {}),
  };

  async function verifyWithReason(jwt: string): Promise<VerifyResult> {
    const t = now();
    const hit = accepted.get(jwt);
    if (hit) {
      if (hit.exp === undefined || hit.exp >= t) return { ok: true, token: hit };
      accepted.delete(jwt);
    }
    const miss = rejected.get(jwt);
    if (miss && t < miss.retryAt) {
      return miss.expiredAt === undefined
        ? { ok: false, reason: miss.reason }
        : { ok: false, reason: miss.reason, expiredAt: miss.expiredAt };
    }

    const result = await verifyJwt(jwt, { alg, key: verifyKey, bounds: frozenBounds, now: t });
    if (jwt.length <= MAX_CACHED_TOKEN_CHARS) {
      if (result.ok) {
        rejected.delete(jwt);
        accepted.set(jwt, result.token);
      } else {
        rejected.set(jwt, {
          reason: result.reason,
          retryAt: result.retryAt ?? Number.POSITIVE_INFINITY,
          ...(result.expiredAt !== undefined && { expiredAt: result.expiredAt }),
        });
      }
    }
    return result;
  }

  return {
    alg,
    canSign: signKey !== null,
    verifyWithReason,
    async verify(jwt) {
      const result = await verifyWithReason(jwt);
      return result.ok ? result.token : null;
    },
    async mint(opts) {
      if (signKey === null) throw new TokenError("Pubkey-only JWT authentication cannot create signed JWTs");
      const claims = serializeClaims({
        ...opts,
        ...(opts.issuer === undefined && frozenBounds.issuer !== undefined
          ? { issuer: frozenBounds.issuer }
          : {}),
        ...(opts.audiences === undefined && frozenBounds.audiences !== undefined
          ? { audiences: frozenBounds.audiences }
          : {}),
      });
      const { CompactSign } = await loadJose();
      return new CompactSign(new TextEncoder().encode(claims))
        .setProtectedHeader({ alg, typ: "JWT" })
        .sign(signKey);
    },
  };
}
