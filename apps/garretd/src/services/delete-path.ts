/**
 * `DELETE /{cache}/{hash}.narinfo` (garret extension; needs attic's `d` permission, which atticd
 * defines but never checks): removes the store path from one cache at once. Its NAR and chunks
 * are queued for the next GC (a database trigger), which frees them unless another cache or
 * path still uses them. Other paths of the cache that reference it are left alone: deleting is an
 * explicit act, and closure-aware retention only governs what expiry removes.
 */
import { deleteObjectByHash } from "@garret/db";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";

export async function deletePath(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  storePathHash: string,
): Promise<void> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["d"]);
  const deleted = await deleteObjectByHash(deps.db, cache.id, storePathHash);
  if (!deleted) throw new AtticError("NoSuchObject", { canDiscover: true });
  deps.state.objectsChanged();
  deps.log.info("store path deleted", { cache: cacheName, storePathHash, by: token?.sub ?? null });
}
