/**
 * A verified atticd token and its permission lookup.
 *
 * Resolution follows atticd (`token/src/lib.rs`, `AtticAccess::get_permission_for_cache`):
 * an entry whose key equals the cache name wins; otherwise the first key in document order whose
 * glob matches; otherwise nothing. Entries are never merged, so with
 * `{"*":{"r":1},"starlite-*":{"w":1}}` the cache `starlite-x` gets only `r` (attic issue #133).
 */

import { cachePatternMatches, emptyPermission, type Permission } from "@garret/protocol";
import { deepFreeze } from "./deep-freeze.ts";

/** Cache-pattern entries in the order the token lists them (order decides glob precedence). */
export type CachePermissions = Array<[pattern: string, permission: Permission]>;

export interface AtticToken {
  readonly sub?: string;
  readonly jti?: string;
  /** Expiry in Unix seconds; absent means the token never expires. */
  readonly exp?: number;
  readonly caches: CachePermissions;
  /** The whole verified claim set, deeply frozen (shared between requests through the cache). */
  readonly claims: Record<string, unknown>;
  /** A fresh object each call, so callers may add the public-cache `r` bit without side effects. */
  getPermission(cacheName: string): Permission;
}

export interface AtticTokenInit {
  sub?: string;
  jti?: string;
  exp?: number;
  caches: CachePermissions;
  claims: Record<string, unknown>;
}

export function createAtticToken(init: AtticTokenInit): AtticToken {
  const caches = deepFreeze(init.caches.map(([p, perm]): [string, Permission] => [p, { ...perm }]));
  const exact = new Map<string, Permission>();
  for (const [pattern, permission] of caches) {
    // The first occurrence wins, as a lookup in atticd's ordered map would.
    if (!exact.has(pattern)) exact.set(pattern, permission);
  }
  const globs = caches.filter(([pattern]) => pattern.includes("*"));

  return Object.freeze({
    ...(init.sub !== undefined ? { sub: init.sub } : {}),
    ...(init.jti !== undefined ? { jti: init.jti } : {}),
    ...(init.exp !== undefined ? { exp: init.exp } : {}),
    caches,
    claims: init.claims,
    getPermission(cacheName: string): Permission {
      const hit =
        exact.get(cacheName) ?? globs.find(([pattern]) => cachePatternMatches(pattern, cacheName))?.[1];
      return hit ? { ...hit } : emptyPermission();
    },
  });
}
