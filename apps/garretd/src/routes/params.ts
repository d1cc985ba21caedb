/** Path parameters shared by the routes: cache names and `<hash>.<suffix>` file names. */
import { isValidStorePathHash } from "@garret/nix";
import { isValidCacheName } from "@garret/protocol";
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { AtticError } from "../errors.ts";

export function cacheParam(c: Context<AppEnv>): string {
  const name = c.req.param("cache") ?? "";
  if (!isValidCacheName(name)) throw new AtticError("InvalidCacheName", { detail: "not a valid cache name" });
  c.set("cacheName", name);
  return name;
}

/**
 * Splits `<hash>.<suffix>` at the first dot as atticd does: no dot or another suffix is 404
 * `NotFound`; a malformed hash is 400 `InvalidStorePathHash` (atticd: 500).
 */
export function hashWithSuffix(file: string, suffix: string): string {
  const dot = file.indexOf(".");
  if (dot < 0 || file.slice(dot + 1) !== suffix) throw new AtticError("NotFound");
  const hash = file.slice(0, dot);
  if (!isValidStorePathHash(hash))
    throw new AtticError("InvalidStorePathHash", { detail: "not a store path hash" });
  return hash;
}
