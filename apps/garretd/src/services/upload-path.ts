/**
 * `PUT /_api/v1/upload-path` after framing: store one NAR for one store path (attic
 * `api/v1/upload_path.rs`, §2.3 of the protocol notes).
 *
 * 1. NAR-level dedup: a valid NAR with the same hash is leased (`holders_count + 1`); with proof of
 *    possession the body must hash to it. Nothing new is stored.
 * 2. Otherwise the NAR is cut into content-defined chunks (or kept whole below
 *    `nar-size-threshold`); each chunk is deduplicated globally by hash and compression, or
 *    compressed off the main thread and stored. The NAR row stays `P` (invisible, ignored by GC)
 *    until the whole stream has been verified, then one transaction adds its chunk refs, marks it
 *    `V` and points the object at it.
 * 3. Leases on reused NARs and chunks are held until that transaction commits, so a concurrent GC
 *    cannot delete what this upload is about to reference; they are released in `finally`.
 *    On failure the pending NAR row is deleted; chunks already stored become orphans that GC reaps.
 */
import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createCompressStream, FastCdcChunker, nixCompressionName } from "@garret/chunking";
import {
  deleteNar,
  findAndLockChunk,
  findAndLockNar,
  insertChunkRefs,
  insertNar,
  releaseChunks,
  releaseNar,
  upsertObject,
  validateNar,
} from "@garret/db";
import {
  formatSha256Hex,
  NarValidator,
  NixFormatError,
  parseSha256,
  parseStorePath,
  parseStorePathBaseName,
} from "@garret/nix";
import type { UploadPathNarInfo, UploadPathResult } from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { ChunkUploads, insertStoredChunk, type StoredChunk } from "./chunk-store.ts";

/** NARs stored whole (threshold 0) are buffered below this size and streamed above it. */
const WHOLE_NAR_BUFFER_LIMIT = 16 * 1024 * 1024;

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
  // These are copied into narinfo lines verbatim: a line break would let the uploader add lines
  // (a second `URL:`, say) to what every client of the cache reads.
  for (const [field, value] of [
    ["system", info.system],
    ["ca", info.ca],
    ...info.sigs.map((v) => ["sigs", v]),
  ]) {
    if (typeof value === "string" && /[\r\n\0]/.test(value))
      throw requestError(`${field} contains a line break`);
  }
  try {
    const slash = info.store_path.lastIndexOf("/");
    const parsed = parseStorePath(
      info.store_path,
      slash > 0 ? info.store_path.slice(0, slash) : "/nix/store",
    );
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
  const cache = { id: cacheId };

  const existing = await findAndLockNar(deps.db, narHashHex);
  if (existing) {
    try {
      if (deps.settings.requireProofOfPossession) {
        const { hash, size } = await hashAll(body);
        if (hash !== narHashHex || size !== info.nar_size || size !== existing.narSize) {
          throw requestError("Bad NAR Hash or Size");
        }
      }
      await upsertObject(deps.db, objectInput(cache.id, existing.id, info, createdBy));
    } finally {
      await releaseNar(deps.db, existing.id).catch((err: unknown) =>
        deps.log.warn("failed to release NAR lease", { err, narId: existing.id }),
      );
    }
    return { kind: "Deduplicated", frac_deduplicated: null };
  }

  const { narSizeThreshold } = deps.settings.chunking;
  // Brotli streams cannot be concatenated (decoders stop after the first), so a brotli NAR is
  // always stored as one chunk; atticd chunks it anyway and serves bodies Nix cannot decode.
  const neverChunk = narSizeThreshold === 0 || deps.settings.compression.type === "brotli";
  if (neverChunk && info.nar_size > WHOLE_NAR_BUFFER_LIMIT) {
    return uploadWholeNarStreaming(deps, cache.id, checked, body, createdBy);
  }
  const whole = neverChunk || info.nar_size < narSizeThreshold;
  return uploadChunked(deps, cache.id, checked, body, createdBy, whole);
}

function objectInput(cacheId: number, narId: number, info: UploadPathNarInfo, createdBy: string | null) {
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

async function hashAll(body: AsyncIterable<Uint8Array>): Promise<{ hash: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const piece of body) {
    h.update(piece);
    size += piece.length;
  }
  return { hash: `sha256:${h.digest("hex")}`, size };
}

/** Collects the whole stream as one chunk; used below `nar-size-threshold`. */
class WholeChunker {
  private parts: Uint8Array[] = [];
  push(data: Uint8Array): Uint8Array[] {
    this.parts.push(data);
    return [];
  }
  finish(): Uint8Array[] {
    return [Buffer.concat(this.parts)];
  }
}

/** Verifies what streamed through against the claim, and that it is a well-formed NAR. */
class NarCheck {
  private readonly hash = createHash("sha256");
  private readonly validator = new NarValidator();
  size = 0;

  update(piece: Uint8Array): void {
    this.hash.update(piece);
    this.size += piece.length;
    try {
      this.validator.push(piece);
    } catch (err) {
      throw invalidNar(err);
    }
  }

  finish(expectedHashHex: string, expectedSize: number): void {
    const hash = `sha256:${this.hash.digest("hex")}`;
    if (hash !== expectedHashHex || this.size !== expectedSize) throw requestError("Bad NAR Hash or Size");
    try {
      this.validator.end();
    } catch (err) {
      throw invalidNar(err);
    }
  }
}

function invalidNar(err: unknown): AtticError {
  if (err instanceof NixFormatError) return requestError(`Invalid NAR: ${err.message}`);
  return err instanceof AtticError ? err : requestError(`Invalid NAR: ${describe(err)}`);
}

async function uploadChunked(
  deps: Deps,
  cacheId: number,
  { info, narHashHex }: CheckedNarInfo,
  body: AsyncIterable<Uint8Array>,
  createdBy: string | null,
  whole: boolean,
): Promise<UploadPathResult> {
  const compression = nixCompressionName(deps.settings.compression.type);
  const chunker = whole ? new WholeChunker() : new FastCdcChunker(deps.settings.chunking);
  const check = new NarCheck();
  const chunks = new ChunkUploads(deps, compression);
  let narId: number | null = null;
  let committed = false;
  let stored: StoredChunk[];

  try {
    const nar = await insertNar(deps.db, {
      state: "P",
      narHash: narHashHex,
      narSize: info.nar_size,
      compression,
      numChunks: 0,
    });
    narId = nar.id;
    for await (const piece of body) {
      check.update(piece);
      for (const chunk of chunker.push(piece)) await chunks.add(chunk);
    }
    check.finish(narHashHex, info.nar_size);
    for (const chunk of chunker.finish()) if (chunk.length > 0) await chunks.add(chunk);
    stored = await chunks.finish();

    const pendingNarId = narId;
    const refs = stored.map((c, i) => ({ seq: i, chunkId: c.chunkId }));
    await deps.db.transaction(async (tx) => {
      await insertChunkRefs(tx, pendingNarId, refs);
      await validateNar(tx, pendingNarId, refs.length);
      await upsertObject(tx, objectInput(cacheId, pendingNarId, info, createdBy));
    });
    committed = true;
  } finally {
    await chunks.release();
    if (!committed && narId !== null) {
      await deleteNar(deps.db, narId).catch((err: unknown) =>
        deps.log.warn("failed to delete pending NAR", { err, narId }),
      );
    }
  }
  return uploadResult(stored, info.nar_size, whole);
}

function uploadResult(stored: StoredChunk[], narSize: number, whole: boolean): UploadPathResult {
  const fileSize = stored.reduce((s, c) => s + c.fileSize, 0);
  const dedupBytes = stored.reduce((s, c) => s + (c.deduplicated ? c.size : 0), 0);
  return {
    kind: "Uploaded",
    file_size: fileSize,
    frac_deduplicated: whole && stored.length === 1 ? null : narSize > 0 ? dedupBytes / narSize : 0,
  };
}

/**
 * A NAR kept as a single chunk (`nar-size-threshold = 0`) too large to buffer: compressed while it
 * streams into storage. The chunk is keyed by the NAR hash, as atticd does for unchunked NARs.
 */
async function uploadWholeNarStreaming(
  deps: Deps,
  cacheId: number,
  { info, narHashHex }: CheckedNarInfo,
  body: AsyncIterable<Uint8Array>,
  createdBy: string | null,
): Promise<UploadPathResult> {
  const compression = nixCompressionName(deps.settings.compression.type);
  let chunk: StoredChunk;
  let heldChunk: number | null = null;
  try {
    const existing = await findAndLockChunk(deps.db, narHashHex, compression);
    if (existing) {
      heldChunk = existing.id;
      const check = new NarCheck();
      for await (const piece of body) check.update(piece);
      check.finish(narHashHex, info.nar_size);
      chunk = {
        chunkId: existing.id,
        size: info.nar_size,
        fileSize: existing.fileSize ?? 0,
        deduplicated: true,
      };
    } else {
      const row = await insertStoredChunk(deps, narHashHex, info.nar_size, compression, async (name) => {
        const check = new NarCheck();
        const fileHash = createHash("sha256");
        let fileSize = 0;
        const verify = new Transform({
          transform(piece: Buffer, _enc, cb) {
            try {
              check.update(piece);
              cb(null, piece);
            } catch (err) {
              cb(err as Error);
            }
          },
          flush(cb) {
            try {
              check.finish(narHashHex, info.nar_size);
              cb();
            } catch (err) {
              cb(err as Error);
            }
          },
        });
        const count = new Transform({
          transform(piece: Buffer, _enc, cb) {
            fileHash.update(piece);
            fileSize += piece.length;
            cb(null, piece);
          },
        });
        const out = new PassThrough();
        const { type, level } = deps.settings.compression;
        await Promise.all([
          deps.storage.putStream(name, out),
          pipeline(Readable.from(body), verify, createCompressStream(type, level), count, out),
        ]);
        return { fileHash: `sha256:${fileHash.digest("hex")}`, fileSize };
      });
      heldChunk = row.id;
      chunk = { chunkId: row.id, size: info.nar_size, fileSize: row.fileSize ?? 0, deduplicated: false };
    }
    const theChunk = chunk;
    await deps.db.transaction(async (tx) => {
      const nar = await insertNar(tx, {
        state: "V",
        narHash: narHashHex,
        narSize: info.nar_size,
        compression,
        numChunks: 1,
      });
      await insertChunkRefs(tx, nar.id, [{ seq: 0, chunkId: theChunk.chunkId }]);
      await upsertObject(tx, objectInput(cacheId, nar.id, info, createdBy));
    });
  } finally {
    if (heldChunk !== null) {
      await releaseChunks(deps.db, [heldChunk]).catch((err: unknown) =>
        deps.log.warn("failed to release chunk lease", { err, chunkId: heldChunk }),
      );
    }
  }
  return { kind: "Uploaded", file_size: chunk.fileSize, frac_deduplicated: null };
}
