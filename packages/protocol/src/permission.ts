/**
 * Cache permissions as atticd's token claim spells them (`https://jwt.attic.rs/v1`):
 * `r` pull, `w` push, `d` delete objects, `cc` create cache, `cr` configure cache,
 * `cq` configure retention, `cd` destroy cache. Shared by the token package, the server and the client.
 */

export const PERMISSION_LETTERS = ["r", "w", "d", "cc", "cr", "cq", "cd"] as const;
export type PermissionLetter = (typeof PERMISSION_LETTERS)[number];
export type Permission = Record<PermissionLetter, boolean>;

export function emptyPermission(): Permission {
  return { r: false, w: false, d: false, cc: false, cr: false, cq: false, cd: false };
}

/** A caller "can discover" a cache when any bit is set (attic's discovery rule). */
export function canDiscover(p: Permission): boolean {
  return PERMISSION_LETTERS.some((l) => p[l]);
}
