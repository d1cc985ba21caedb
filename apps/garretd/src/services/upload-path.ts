/**
 * `PUT /_api/v1/upload-path` after framing: store one NAR for one store path (attic
 * `api/v1/upload_path.rs`, §2.3 of the protocol notes). The NAR info is checked here; the bytes go
 * through the ingest pipeline (ingest-nar.ts) with the claimed hash and size, reusing a valid NAR
 * with that hash (NAR-level dedup, proof of possession) and committing the object with the NAR.
 */
import { upsertObject } from "@garret/db";
import {
  formatSha256Hex,
  parseSha256,
  parseStorePath,
  parseStorePathBaseName,
  storeDirOf,
} from "@garret/nix";
import type { UploadPathNarInfo, UploadPathResult } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { ingestNar } from "./ingest-nar.ts";

export interface CheckedNarInfo {
  info: UploadPathNarInfo;
  narHashHex: string;
}

/** Validation atticd skips: the store path must carry the claimed hash, references must be base names. */
export function checkNarInfo(info: UploadPathNarInfo): CheckedNarInfo {
  let narHashHex: string;
  try {
    narHashHex = formatSha256Hex(parseSha256(info.nar_hash));
  } catch (err) {
    throw requestError(`Invalid NAR hash: ${describe(err)}`);
  }
  // Text fields carry no control characters (the wire schema, text.ts), so nothing the uploader
  // sends can add lines to a narinfo. The store dir is the cache's: see checkStoreDir.
  try {
    const parsed = parseStorePath(info.store_path, storeDirOf(info.store_path));
    if (parsed.hash !== info.store_path_hash) {
      throw requestError("store_path does not match store_path_hash");
    }
    for (const ref of info.references) parseStorePathBaseName(ref);
    if (info.deriver) parseStorePathBaseName(info.deriver);
  } catch (err) {
    if (err instanceof AtticError) throw err;
    throw new AtticError("InvalidStorePath", { detail: describe(err) });
  }
  return { info, narHashHex };
}

/**
 * The store path must lie in the cache's store dir, as Nix itself requires of a substituter: the
 * served narinfo's `StorePath:` is this string, so it is parsed against the cache's `store_dir`,
 * never against a directory taken from the path itself.
 */
export function checkStoreDir(storePath: string, storeDir: string): void {
  try {
    parseStorePath(storePath, storeDir);
  } catch (err) {
    throw new AtticError("InvalidStorePath", {
      detail: `${describe(err)}: ${JSON.stringify(storePath)} is not in the cache's store dir ${storeDir}`,
    });
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function uploadPath(
  deps: Deps,
  token: AtticToken | null,
  checked: CheckedNarInfo,
  body: AsyncIterable<Uint8Array>,
): Promise<UploadPathResult> {
  const { cache } = await authorizeCache(deps, token, checked.info.cache, ["w"]);
  checkStoreDir(checked.info.store_path, cache.storeDir);
  return storeNar(deps, cache.id, checked, body, token?.sub ?? null);
}

/**
 * Stores one verified NAR as `info.store_path` in the cache, after authorization: the entry point
 * for NARs that reach garret by other ways than an upload request (pull-through from upstreams).
 */
export async function storeNar(
  deps: Deps,
  cacheId: number,
  checked: CheckedNarInfo,
  body: AsyncIterable<Uint8Array>,
  createdBy: string | null,
): Promise<UploadPathResult> {
  const { info, narHashHex } = checked;
  const nar = await ingestNar(deps, {
    nar: body,
    claim: { narHash: narHashHex, narSize: info.nar_size },
    state: "V",
    reuseExistingNar: true,
    commit: (tx, stored) => upsertObject(tx, objectInput(cacheId, stored.narId, info, createdBy)),
  });
  if (nar.reused) return { kind: "Deduplicated", frac_deduplicated: null };
  return {
    kind: "Uploaded",
    file_size: nar.fileSize,
    frac_deduplicated:
      nar.whole && nar.numChunks === 1 ? null : nar.narSize > 0 ? nar.deduplicatedBytes / nar.narSize : 0,
  };
}

/** The object row for a NAR stored (or found) for `info`. */
export function objectInput(
  cacheId: number,
  narId: number,
  info: UploadPathNarInfo,
  createdBy: string | null,
) {
  return {
    cacheId,
    narId,
    storePathHash: info.store_path_hash,
    storePath: info.store_path,
    references: info.references,
    system: info.system ?? null,
    deriver: info.deriver ?? null,
    sigs: info.sigs,
    ca: info.ca ?? null,
    createdBy,
  };
}
