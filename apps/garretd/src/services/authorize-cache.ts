/**
 * The single authorization step for cache-scoped requests (attic `access/mod.rs` + `auth_cache`):
 * resolve the cache, compute the caller's permission (token grant, plus `r` when the cache is
 * public), and raise errors that carry the discovery flag so that `errors.ts` can hide the cache's
 * existence from callers without any permission on it.
 */
import { findSoftDeletedCache } from "@garret/db";
import { canDiscover, emptyPermission, type Permission, type PermissionLetter } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import type { Cache } from "./cache-directory.ts";

export interface AuthorizedCache {
  cache: Cache;
  permission: Permission;
}

export function tokenPermission(token: AtticToken | null, cacheName: string): Permission {
  return token ? token.getPermission(cacheName) : emptyPermission();
}

/**
 * Throws NoSuchCache / AccessError / Unauthorized per attic's matrix; returns the cache otherwise.
 * `required` lists the bits that must all be present. With `objectLookup` (narinfo and NAR
 * requests), a soft-deleted cache answers as atticd's object lookup does, 404 `NoSuchObject`, to
 * any caller who could see it (its token's grants, or anyone when it was public).
 */
export async function authorizeCache(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  required: readonly PermissionLetter[],
  opts: { objectLookup?: boolean } = {},
): Promise<AuthorizedCache> {
  const permission = { ...tokenPermission(token, cacheName) };
  const cache = await deps.state.caches.get(cacheName);
  if (!cache) {
    if (opts.objectLookup) {
      const deleted = await findSoftDeletedCache(deps.db, cacheName);
      if (deleted && (deleted.isPublic || canDiscover(permission))) {
        throw new AtticError("NoSuchObject", { canDiscover: true });
      }
    }
    throw new AtticError("NoSuchCache", { canDiscover: canDiscover(permission) });
  }
  if (cache.isPublic) permission.r = true;
  const discover = canDiscover(permission);
  if (!discover) throw new AtticError("Unauthorized");
  for (const bit of required) {
    if (!permission[bit]) throw new AtticError("AccessError", { canDiscover: discover });
  }
  return { cache, permission };
}

/** Permission check for operations on a cache that need not exist yet (create). */
export function requireTokenPermission(
  token: AtticToken | null,
  cacheName: string,
  required: readonly PermissionLetter[],
): Permission {
  const permission = tokenPermission(token, cacheName);
  const discover = canDiscover(permission);
  if (!discover) throw new AtticError("Unauthorized");
  for (const bit of required) {
    if (!permission[bit]) throw new AtticError("AccessError", { canDiscover: discover });
  }
  return permission;
}
