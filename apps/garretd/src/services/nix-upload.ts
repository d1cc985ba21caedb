/**
 * Uploads from plain `nix copy --to http://host/CACHE` (Nix's HttpBinaryCacheStore), treated like
 * attic uploads: decompressed, hashed, cut into content-defined chunks, deduplicated, recompressed
 * with the server's compression (a NAR kept whole that arrives in it is stored as sent), and later
 * served in garret's own narinfo signed by the cache key.
 *
 * What Nix 2.8 sends per store path, dependencies first (nix `binary-cache-store.cc`
 * `addToStoreCommon`, `http-binary-cache-store.cc`):
 *
 *   HEAD nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz     (404: upload it)
 *   PUT  nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz     the compressed NAR
 *   PUT  nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo                           its narinfo
 *
 * The NAR arrives before its narinfo and is named only by the hash of its compressed bytes. So a
 * NAR PUT is verified (file hash, NAR syntax), chunked and kept as a pending upload: a `P` NAR row
 * plus a `garret_pending_upload` row keyed by (cache, file hash). The narinfo PUT finds it by the
 * file hash in its URL/FileHash, checks NarHash/NarSize against what was received, and in one
 * transaction makes the NAR valid (or switches to an identical valid NAR), points the object at it
 * and consumes the pending row. Pending uploads whose narinfo never comes are `P` NARs that GC
 * reaps after its grace period; the pending row cascades.
 *
 * Proof of possession: HEAD answers 200 only for a pending upload of this cache, and a narinfo
 * without an upload links to an existing NAR only when this cache already holds that NAR (or
 * `require-proof-of-possession` is off), so knowing a NAR hash never grants its contents.
 *
 * Every client mistake is a 4xx: Nix retries a PUT that got a 5xx with an empty body and hangs.
 */
import { createHash } from "node:crypto";
import { pipeline, Readable, type Transform } from "node:stream";
import { CompressionError, createDecompressStream, UnknownCompressionError } from "@garret/chunking";
import {
  cacheHasNarHash,
  claimPendingUpload,
  deleteNar,
  findAndLockNar,
  findPendingUpload,
  getMissingPaths,
  insertPendingUpload,
  type PendingUpload,
  releaseNar,
  type UpsertObject,
  upsertObject,
  validateNar,
} from "@garret/db";
import {
  formatSha256Hex,
  formatSha256Nix32,
  type NarInfo,
  NixFormatError,
  parseNarInfo,
  parseSha256,
  storeDirOf,
} from "@garret/nix";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { ingestNar, senderFileFor } from "./ingest-nar.ts";

/** Largest compressed NAR accepted in one PUT (Nix sends Content-Length). */
export const MAX_NIX_NAR_FILE_SIZE = 16 * 1024 ** 3;
/** Largest decompressed NAR, which also bounds the work a decompression bomb can cause. */
export const MAX_NIX_NAR_SIZE = 64 * 1024 ** 3;
const SNIFF_BYTES = 16;

/** The file extensions Nix 2.8 gives compressed NARs; `gzip` and `none` both get a plain `.nar`. */
const EXTENSION_COMPRESSION: Readonly<Record<string, string>> = {
  xz: "xz",
  zst: "zstd",
  bz2: "bzip2",
  br: "br",
  lz4: "lz4",
  lzip: "lzip",
};

const NAR_FILE_RE = /^([0-9a-df-np-sv-z]{52})\.nar(?:\.([a-z0-9]+))?$/;
const NIX_NAR_FILE_PREFIX_RE = /^[0-9a-df-np-sv-z]{52}\.nar(?:\.|$)/;

/**
 * Whether a `nar/` file name is an upload name (52-char file hash) rather than a download name
 * (`<32-char store path hash>.nar`, what garret's narinfos point at).
 */
export function isNixNarFileName(file: string): boolean {
  return NIX_NAR_FILE_PREFIX_RE.test(file);
}

export interface NixNarFile {
  /** nix-base32 sha256 of the compressed bytes, as in the URL. */
  fileHashNix32: string;
  /** `sha256:<hex>` of the same. */
  fileHash: string;
  /** Nix compression name from the extension; null for a plain `.nar` (detected from the bytes). */
  compression: string | null;
}

/**
 * `<52-char nix32 file hash>.nar[.ext]`, or null when the name is something else (in particular
 * `<32-char store path hash>.nar`, the download URL garret's own narinfos use).
 */
export function parseNixNarFileName(file: string): NixNarFile | null {
  const m = NAR_FILE_RE.exec(file);
  if (!m) return null;
  const fileHashNix32 = m[1] as string;
  let fileHash: string;
  try {
    fileHash = formatSha256Hex(parseSha256(`sha256:${fileHashNix32}`));
  } catch {
    return null;
  }
  const ext = m[2];
  if (ext === undefined) return { fileHashNix32, fileHash, compression: null };
  const compression = EXTENSION_COMPRESSION[ext];
  if (compression === undefined) {
    throw requestError(
      `unknown NAR file extension ".${ext}" (expected .nar, .nar.xz, .nar.zst, .nar.bz2 or .nar.br)`,
    );
  }
  return { fileHashNix32, fileHash, compression };
}

/** Compression of a plain `.nar` upload from its first bytes: gzip, or anything a Nix user may pick. */
export function sniffCompression(head: Uint8Array): string {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return "zstd";
  if (b.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
  // Otherwise a raw NAR (or garbage, which the NAR validator rejects with a clear message).
  return "none";
}

export interface ReceivedNar {
  fileHash: string;
  fileSize: number;
  narHash: string;
  narSize: number;
  compressionReceived: string;
  numChunks: number;
  deduplicatedChunks: number;
}

/** `PUT /{cache}/nar/<filehash>.nar[.ext]`: receive, verify and chunk one NAR as a pending upload. */
export async function receiveNixNar(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  fileName: string,
  contentLength: number | null,
  body: AsyncIterable<Uint8Array>,
): Promise<ReceivedNar> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["w"]);
  const file = uploadFileName(fileName);
  if (contentLength !== null && contentLength > MAX_NIX_NAR_FILE_SIZE) {
    throw new AtticError("PayloadTooLarge", {
      detail: `NAR files are limited to ${MAX_NIX_NAR_FILE_SIZE} bytes`,
    });
  }

  const fileDigest = createHash("sha256");
  let fileSize = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const piece of body) {
      fileSize += piece.length;
      if (fileSize > MAX_NIX_NAR_FILE_SIZE) {
        throw new AtticError("PayloadTooLarge", {
          detail: `NAR files are limited to ${MAX_NIX_NAR_FILE_SIZE} bytes`,
        });
      }
      fileDigest.update(piece);
      yield piece;
    }
  }
  const source = counted();
  const head: Uint8Array[] = [];
  let compressionReceived = file.compression;
  if (compressionReceived === null) {
    let n = 0;
    while (n < SNIFF_BYTES) {
      const r = await source.next();
      if (r.done) break;
      head.push(r.value);
      n += r.value.length;
    }
    compressionReceived = sniffCompression(Buffer.concat(head));
  }
  let decompress: Transform;
  try {
    decompress = createDecompressStream(compressionReceived);
  } catch (err) {
    if (err instanceof UnknownCompressionError) {
      throw requestError(
        `NARs compressed with "${err.compression}" are not supported; push with compression=zstd, xz, bzip2, br or none`,
      );
    }
    throw err;
  }
  const senderFile = senderFileFor(deps.settings, compressionReceived);
  const replayed = Readable.from(
    (async function* () {
      for (const piece of head) {
        senderFile?.add(piece);
        yield piece;
      }
      for await (const piece of source) {
        senderFile?.add(piece);
        yield piece;
      }
    })(),
    { objectMode: false },
  );
  const decompressed = pipeline(replayed, decompress, () => {});
  async function* nar(): AsyncGenerator<Uint8Array> {
    try {
      yield* decompressed as AsyncIterable<Buffer>;
    } catch (err) {
      throw receiveError(err, compressionReceived as string);
    }
    // All of the body has been read: the file hash can be checked before anything is committed.
    const fileHash = `sha256:${fileDigest.digest("hex")}`;
    if (fileHash !== file.fileHash) {
      throw requestError(
        `FileHash mismatch: the uploaded bytes hash to ${formatSha256Nix32(parseSha256(fileHash))}, the URL names sha256:${file.fileHashNix32}`,
      );
    }
  }

  try {
    const stored = await ingestNar(deps, {
      nar: nar(),
      claim: null,
      state: "P",
      maxNarSize: MAX_NIX_NAR_SIZE,
      senderFile,
      commit: (tx, ingested) =>
        insertPendingUpload(tx, {
          cacheId: cache.id,
          narId: ingested.narId,
          fileHash: file.fileHash,
          fileSize,
          narHash: ingested.narHash,
          narSize: ingested.narSize,
          compressionReceived: compressionReceived as string,
          createdBy: token?.sub ?? null,
        }),
    });
    return {
      fileHash: file.fileHash,
      fileSize,
      narHash: stored.narHash,
      narSize: stored.narSize,
      compressionReceived,
      numChunks: stored.numChunks,
      deduplicatedChunks: stored.deduplicatedChunks,
    };
  } finally {
    decompressed.destroy();
  }
}

/** Maps failures while reading the body to client errors where the client's bytes are at fault. */
function receiveError(err: unknown, compression: string): unknown {
  if (err instanceof AtticError) return err;
  if (err instanceof NixFormatError) return requestError(`Invalid NAR: ${err.message}`);
  if (err instanceof CompressionError && !err.message.startsWith("cannot run")) {
    return requestError(`NAR data is not valid ${compression}: ${err.message}`);
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (
    typeof code === "string" &&
    (code.startsWith("Z_") ||
      code.startsWith("ZSTD_error") ||
      code.startsWith("ERR_BROTLI") ||
      code.startsWith("ERR__ERROR"))
  ) {
    return requestError(`NAR data is not valid ${compression}: ${(err as Error).message}`);
  }
  return err;
}

/** `HEAD /{cache}/nar/<filehash>.nar[.ext]`: whether this cache holds a pending upload of that file. */
export async function nixNarUploaded(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  fileName: string,
): Promise<boolean> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["w"]);
  const file = uploadFileName(fileName);
  return (await findPendingUpload(deps.db, cache.id, file.fileHash)) !== null;
}

function uploadFileName(fileName: string): NixNarFile {
  const file = parseNixNarFileName(fileName);
  if (!file)
    throw requestError(
      `NARs are uploaded as nar/<nix32 sha256 of the file>.nar[.xz|.zst|.bz2|.br], not nar/${fileName}`,
    );
  return file;
}

/**
 * `PUT /{cache}/<hash>.ls` (sent with `write-nar-listing=1`): accepted and dropped. Listings are
 * optional for Nix, which reads the NAR itself when a listing is missing.
 */
export async function acceptNarListing(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
): Promise<void> {
  await authorizeCache(deps, token, cacheName, ["w"]);
}

/** Any other PUT under a cache: build logs, realisations, debug info. Always a 4xx. */
export async function rejectUpload(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  path: string,
): Promise<never> {
  await authorizeCache(deps, token, cacheName, ["w"]);
  const what = path.startsWith("log/")
    ? "build logs"
    : path.startsWith("realisations/")
      ? "realisations of content-addressed derivations"
      : path.startsWith("debuginfo/")
        ? "debug info indexes (index-debug-info)"
        : `"${path}"`;
  throw requestError(
    `garret does not store ${what}; it accepts nix-cache-info, nar/<filehash>.nar[.ext] and <hash>.narinfo`,
  );
}

/** `PUT /{cache}/nix-cache-info`: Nix writes one when its GET failed; garret's own is served instead. */
export async function acceptNixCacheInfo(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
): Promise<void> {
  await authorizeCache(deps, token, cacheName, ["w"]);
}

export type NarInfoOutcome = "uploaded" | "deduplicated" | "linked";

/** `PUT /{cache}/<hash>.narinfo`: make a received (or already held) NAR visible as this store path. */
export async function receiveNixNarInfo(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  storePathHash: string,
  text: string,
): Promise<NarInfoOutcome> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["w"]);
  let info: NarInfo;
  try {
    info = parseNarInfo(text);
  } catch (err) {
    if (err instanceof NixFormatError) throw requestError(`Invalid narinfo: ${err.message}`);
    throw err;
  }
  const base = info.storePath.slice(info.storePath.lastIndexOf("/") + 1);
  if (base.slice(0, 32) !== storePathHash) {
    throw requestError(`narinfo StorePath ${info.storePath} does not match the URL's hash ${storePathHash}`);
  }
  if (storeDirOf(info.storePath) !== cache.storeDir) {
    throw requestError(
      `narinfo StorePath ${info.storePath} is not in the cache's store dir ${cache.storeDir}`,
    );
  }
  const narHash = formatSha256Hex(parseSha256(info.narHash));
  const fileHash = narInfoFileHash(info);
  const createdBy = token?.sub ?? null;
  const object = {
    cacheId: cache.id,
    storePathHash,
    storePath: info.storePath,
    references: info.references,
    deriver: info.deriver ?? null,
    sigs: info.sigs,
    ca: info.ca ?? null,
    createdBy,
  };

  let outcome: NarInfoOutcome | null = null;
  const pending = fileHash ? await findPendingUpload(deps.db, cache.id, fileHash) : null;
  if (pending) {
    checkAgainstUpload(info, narHash, pending);
    outcome = await commitPending(deps, pending, object);
  }
  if (outcome === null) {
    const allowed =
      !deps.settings.requireProofOfPossession || (await cacheHasNarHash(deps.db, cache.id, narHash));
    const existing = allowed ? await findAndLockNar(deps.db, narHash) : null;
    if (!existing) {
      const named = info.url.startsWith("nar/") ? info.url : `NarHash ${info.narHash}`;
      throw requestError(
        `narinfo names a NAR that was never uploaded to this cache (${named}); upload the NAR first`,
      );
    }
    try {
      if (existing.narSize !== info.narSize) {
        throw requestError(
          `NarSize mismatch: the narinfo says ${info.narSize}, the NAR with this hash has ${existing.narSize} bytes`,
        );
      }
      await upsertObject(deps.db, { ...object, narId: existing.id });
    } finally {
      await releaseNar(deps.db, existing.id).catch((err: unknown) =>
        deps.log.warn("failed to release NAR lease", { err, narId: existing.id }),
      );
    }
    outcome = "linked";
  }
  deps.state.objectsChanged();
  await noteMissingReferences(deps, cache.id, storePathHash, info);
  return outcome;
}

/** The upload a narinfo names: its FileHash, else the file hash in its `nar/<hash>.nar.<ext>` URL. */
function narInfoFileHash(info: NarInfo): string | null {
  const fromUrl = info.url.startsWith("nar/") ? parseNixNarFileName(info.url.slice(4)) : null;
  if (info.fileHash === undefined) return fromUrl?.fileHash ?? null;
  const fileHash = formatSha256Hex(parseSha256(info.fileHash));
  if (fromUrl && fromUrl.fileHash !== fileHash) {
    throw requestError(`narinfo FileHash ${info.fileHash} does not match its URL ${info.url}`);
  }
  return fileHash;
}

function checkAgainstUpload(info: NarInfo, narHash: string, pending: PendingUpload): void {
  if (narHash !== pending.narHash) {
    throw requestError(
      `NarHash mismatch: the narinfo says ${info.narHash}, the uploaded NAR hashes to ${formatSha256Nix32(parseSha256(pending.narHash))}`,
    );
  }
  if (info.narSize !== pending.narSize) {
    throw requestError(
      `NarSize mismatch: the narinfo says ${info.narSize}, the uploaded NAR has ${pending.narSize} bytes`,
    );
  }
  if (info.fileSize !== undefined && info.fileSize !== pending.fileSize) {
    throw requestError(
      `FileSize mismatch: the narinfo says ${info.fileSize}, ${pending.fileSize} bytes were uploaded`,
    );
  }
}

type ObjectFields = Omit<UpsertObject, "narId">;

/**
 * Consumes the pending upload: the object points at an identical valid NAR if one exists (the
 * pending copy is dropped; its chunks are shared anyway), else at the pending NAR, made valid.
 * Null when a concurrent narinfo PUT or GC consumed the upload first.
 */
async function commitPending(
  deps: Deps,
  pending: PendingUpload,
  object: ObjectFields,
): Promise<NarInfoOutcome | null> {
  const existing = await findAndLockNar(deps.db, pending.narHash);
  try {
    return await deps.db.transaction(async (tx) => {
      if (!(await claimPendingUpload(tx, pending.id))) return null;
      if (existing) {
        await upsertObject(tx, { ...object, narId: existing.id });
        await deleteNar(tx, pending.narId);
        return "deduplicated";
      }
      if (!(await validateNar(tx, pending.narId, pending.numChunks))) return null;
      await upsertObject(tx, { ...object, narId: pending.narId });
      return "uploaded";
    });
  } finally {
    if (existing) {
      await releaseNar(deps.db, existing.id).catch((err: unknown) =>
        deps.log.warn("failed to release NAR lease", { err, narId: existing.id }),
      );
    }
  }
}

/** Nix uploads dependencies first, so a missing reference is unusual but not an error. */
async function noteMissingReferences(
  deps: Deps,
  cacheId: number,
  self: string,
  info: NarInfo,
): Promise<void> {
  const refs = info.references.map((r) => r.slice(0, 32)).filter((h) => h !== self);
  if (refs.length === 0) return;
  const missing = await getMissingPaths(deps.db, cacheId, refs);
  if (missing.length > 0) {
    deps.log.info("narinfo accepted with references not in the cache", {
      storePath: info.storePath,
      missing: missing.length,
    });
  }
}
