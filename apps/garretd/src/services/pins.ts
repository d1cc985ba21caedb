/**
 * Pins (garret extension): named GC roots of a cache, behind `/_api/v1/caches/{cache}/pins`.
 * Every verb needs `cr` (cache retention administration), like changing the retention period.
 * Pinned paths need not be in the cache yet; they are protected from the moment they are.
 */
import { deletePin, findPin, listPins, type PinRow, upsertPin } from "@garret/db";
import { parseStorePath } from "@garret/nix";
import { PIN_NAME_PATTERN, type Pin, type PinRequest } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";

export function checkPinName(name: string): string {
  if (!PIN_NAME_PATTERN.test(name)) {
    throw requestError(
      "Invalid pin name: use 1-100 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit",
    );
  }
  return name;
}

export function formatPin(row: PinRow): Pin {
  return {
    name: row.name,
    store_paths: row.storePaths,
    expires_at: row.expiresAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    created_by: row.createdBy,
  };
}

/** The hash part of each store path; any store directory, as uploads accept. */
function storePathHashes(paths: string[]): string[] {
  return paths.map((path) => {
    const slash = path.lastIndexOf("/");
    if (slash <= 0)
      throw new AtticError("InvalidStorePath", { detail: `not an absolute store path: ${path}` });
    try {
      return parseStorePath(path, path.slice(0, slash)).hash;
    } catch (err) {
      throw new AtticError("InvalidStorePath", { detail: err instanceof Error ? err.message : String(err) });
    }
  });
}

/**
 * A pin overrides retention (its closure outlives the retention period), so creating or removing
 * one needs what changing the retention period needs: `cr` and `cq`. Reading pins needs `cr`.
 */
const PIN_WRITE = ["cr", "cq"] as const;

export async function putPin(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  name: string,
  body: PinRequest,
): Promise<Pin> {
  const { cache } = await authorizeCache(deps, token, cacheName, PIN_WRITE);
  const storePaths = [...new Set(body.store_paths)];
  const row = await upsertPin(deps.db, {
    cacheId: cache.id,
    name: checkPinName(name),
    storePaths,
    storePathHashes: storePathHashes(storePaths),
    expiresAt: body.expires_at ? new Date(body.expires_at) : null,
    createdBy: token?.sub ?? null,
  });
  return formatPin(row);
}

export async function getPin(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  name: string,
): Promise<Pin> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["cr"]);
  const row = await findPin(deps.db, cache.id, checkPinName(name));
  if (!row) throw new AtticError("NotFound");
  return formatPin(row);
}

export async function getPins(deps: Deps, token: AtticToken | null, cacheName: string): Promise<Pin[]> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["cr"]);
  return (await listPins(deps.db, cache.id)).map(formatPin);
}

export async function removePin(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  name: string,
): Promise<void> {
  const { cache } = await authorizeCache(deps, token, cacheName, PIN_WRITE);
  if (!(await deletePin(deps.db, cache.id, checkPinName(name)))) throw new AtticError("NotFound");
}
