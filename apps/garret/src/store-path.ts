/**
 * The client's view of @garret/nix's store paths and hashes: a store path that is not one is
 * `null` (the client reports it in its own words), and any sha256 spelling Nix prints (SRI from
 * `nix path-info --json` in 2.8, `sha256:` + hex or nix-base32) becomes the 64 hex digits attic's
 * client uploads.
 */
import {
  formatSha256Hex,
  NixFormatError,
  type ParsedStorePath,
  parseStorePath as parse,
  parseSha256,
} from "@garret/nix";

export type StorePathParts = ParsedStorePath;

export const DEFAULT_STORE_DIR = "/nix/store";

/** Parses a top-level store path; null when `path` is not a store path directly inside `storeDir`. */
export function parseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): StorePathParts | null {
  try {
    return parse(path, storeDir);
  } catch (err) {
    if (err instanceof NixFormatError) return null;
    throw err;
  }
}

/** 64 lowercase hex digits of any sha256 spelling Nix emits; throws on anything else. */
export function sha256ToHex(hash: string): string {
  return formatSha256Hex(parseSha256(hash)).slice("sha256:".length);
}
