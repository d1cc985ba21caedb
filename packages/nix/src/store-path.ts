/**
 * Store paths: `<store dir>/<hash>-<name>`, e.g.
 * `/nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10`.
 *
 * The hash is 32 nix32 characters (160 bits); the name is 1-211 characters of
 * `[A-Za-z0-9+-._?=]` not starting with `.`. Store paths arrive from clients and upstream narinfos,
 * so every part is checked before it is used to build keys, URLs or fingerprints.
 *
 * Follows Nix `src/libstore/path.cc` (`checkName`, `StorePath::StorePath`) and the error wording of
 * attic `nix_store/mod.rs` (`parse_store_path`).
 */

import { isNixBase32 } from "./base32.ts";
import { NixFormatError } from "./errors.ts";

export const STORE_PATH_HASH_LENGTH = 32;
export const STORE_PATH_NAME_MAX_LENGTH = 211;

const NAME_RE = /^[A-Za-z0-9+\-_?=][A-Za-z0-9+\-._?=]*$/;

export interface StorePathBaseName {
  hash: string;
  name: string;
}

export interface ParsedStorePath extends StorePathBaseName {
  storeDir: string;
  baseName: string;
}

export function isValidStorePathHash(s: string): boolean {
  return s.length === STORE_PATH_HASH_LENGTH && isNixBase32(s);
}

export function isValidStorePathName(name: string): boolean {
  return name.length <= STORE_PATH_NAME_MAX_LENGTH && NAME_RE.test(name);
}

/** Returns `s` if it is a store path hash; throws `InvalidStorePathHash` otherwise. */
export function parseStorePathHash(s: string): string {
  if (!isValidStorePathHash(s)) {
    throw new NixFormatError(
      "InvalidStorePathHash",
      "Invalid store path hash (expected 32 nix base-32 characters)",
    );
  }
  return s;
}

/** Splits `<hash>-<name>` and validates both parts. Throws `InvalidStorePath`. */
export function parseStorePathBaseName(base: string): StorePathBaseName {
  const hash = base.slice(0, STORE_PATH_HASH_LENGTH);
  if (!isValidStorePathHash(hash)) {
    throw new NixFormatError("InvalidStorePath", "Store path hash is not 32 nix base-32 characters");
  }
  if (base.charCodeAt(STORE_PATH_HASH_LENGTH) !== 0x2d) {
    throw new NixFormatError("InvalidStorePath", "Store path base name has no '-' after the hash");
  }
  const name = base.slice(STORE_PATH_HASH_LENGTH + 1);
  if (!isValidStorePathName(name)) {
    throw new NixFormatError(
      "InvalidStorePath",
      "Store path name must be 1-211 characters of [A-Za-z0-9+-._?=] not starting with '.'",
    );
  }
  return { hash, name };
}

function stripTrailingSlashes(p: string): string {
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 0x2f) end--;
  return p.slice(0, end);
}

/**
 * Parses a full store path under `storeDir`. A trailing slash is tolerated; a path inside a store
 * path (`…-hello-2.10/bin/hello`) is rejected, since callers use the result as an object identity.
 */
export function parseStorePath(path: string, storeDir = "/nix/store"): ParsedStorePath {
  const dir = stripTrailingSlashes(storeDir);
  const p = stripTrailingSlashes(path);
  if (p === dir) throw new NixFormatError("InvalidStorePath", "Path is store directory itself");
  const prefix = dir === "/" ? "/" : `${dir}/`;
  if (!p.startsWith(prefix)) throw new NixFormatError("InvalidStorePath", "Path is not in store directory");
  const baseName = p.slice(prefix.length);
  if (baseName.length < STORE_PATH_HASH_LENGTH)
    throw new NixFormatError("InvalidStorePath", "Path is too short");
  if (baseName.includes("/")) {
    throw new NixFormatError("InvalidStorePath", "Path points inside a store path, not at one");
  }
  const { hash, name } = parseStorePathBaseName(baseName);
  return { storeDir: dir, hash, name, baseName };
}

/** The directory part of a full store path (`/nix/store` for `/nix/store/…-hello`), unvalidated. */
export function storeDirOf(storePath: string): string {
  const slash = storePath.lastIndexOf("/");
  return slash <= 0 ? "/" : storePath.slice(0, slash);
}
