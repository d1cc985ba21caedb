/**
 * The chunk-upload extension (docs/chunk-upload.md): the client cuts the NAR, asks which chunks the
 * cache lacks, uploads those in bounded requests into its push session, and commits the NAR with
 * its ordered chunk list. A chunk is present for a cache only when that cache already references it
 * or the caller's session holds it (packages/db `chunk-sessions.ts`), so knowing a hash never lets
 * a caller use, or learn of, another cache's chunks. The commit reads the chunks back and checks
 * the assembled NAR (hash, size, grammar) before it becomes visible.
 */
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDecompressStream, nixCompressionName } from "@garret/chunking";
import {
  addSessionChunks,
  type CommitChunk,
  closeChunkSession,
  insertNar,
  leaseCommitChunks,
  openChunkSession,
  presentSessionChunks,
  refreshLeases,
  releaseChunks,
  touchChunkSession,
  upsertObject,
} from "@garret/db";
import {
  CHUNK_FRAME_HEADER_BYTES,
  type ChunkUploadAck,
  type ChunkUploadOffer,
  type UploadPathNarInfo,
  type UploadPathResult,
} from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import type { ServerSettings } from "../settings.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { ByteReader } from "./byte-source.ts";
import { ChunkUploads } from "./chunk-store.ts";
import { NarCheck } from "./ingest-nar.ts";
import { readStoredChunks } from "./nar-download.ts";
import { LeaseRefresher, linkChunks } from "./upload-leases.ts";
import { checkNarInfo, checkStoreDir, objectInput } from "./upload-path.ts";

/**
 * What the server advertises, or null when it cannot take chunked pushes: NARs stored whole
 * (threshold 0), brotli (its streams do not concatenate, so NARs are never chunked), or a request
 * limit below one largest chunk.
 */
export function chunkUploadOffer(settings: ServerSettings): ChunkUploadOffer | null {
  const { chunking, compression, chunkUploadMaxRequestBytes } = settings;
  if (chunking.narSizeThreshold === 0 || compression.type === "brotli") return null;
  if (chunking.maxSize + CHUNK_FRAME_HEADER_BYTES > chunkUploadMaxRequestBytes) return null;
  return {
    version: 1,
    max_request_bytes: chunkUploadMaxRequestBytes,
    chunking: {
      nar_size_threshold: chunking.narSizeThreshold,
      min_size: chunking.minSize,
      avg_size: chunking.avgSize,
      max_size: chunking.maxSize,
    },
  };
}

function requireOffer(deps: Deps): ChunkUploadOffer {
  const offer = chunkUploadOffer(deps.settings);
  if (!offer) throw new AtticError("NotFound");
  return offer;
}

/** Sessions belong to a token subject; anonymous writers (public caches with `w`) share one. */
function subjectOf(token: AtticToken | null): string {
  return token?.sub ?? "";
}

const prefixed = (hex: string) => `sha256:${hex}`;

async function openSession(deps: Deps, token: AtticToken | null, cacheName: string, narHash: string) {
  const { cache } = await authorizeCache(deps, token, cacheName, ["w"]);
  const sessionId = await openChunkSession(deps.db, {
    cacheId: cache.id,
    createdBy: subjectOf(token),
    narHash,
  });
  return { cache, sessionId, compression: nixCompressionName(deps.settings.compression.type) };
}

/** The hashes (in request order, without repeats) that must be uploaded before a commit can use them. */
export async function missingChunks(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  narHash: string,
  hashes: readonly string[],
): Promise<string[]> {
  requireOffer(deps);
  const { cache, sessionId, compression } = await openSession(deps, token, cacheName, narHash);
  const distinct = [...new Set(hashes)];
  const present = await presentSessionChunks(
    deps.db,
    sessionId,
    cache.id,
    compression,
    distinct.map(prefixed),
  );
  return distinct.filter((h) => !present.has(prefixed(h)));
}

/**
 * Stores the framed chunks of one request body into the caller's session. Answers only after every
 * chunk is in storage and recorded: an acknowledged chunk survives a crash of either side.
 */
export async function receiveChunks(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  narHash: string,
  body: AsyncIterable<Uint8Array>,
  contentLength: number | null,
): Promise<ChunkUploadAck> {
  const offer = requireOffer(deps);
  const limit = offer.max_request_bytes;
  if (contentLength !== null && contentLength > limit) {
    throw new AtticError("PayloadTooLarge", { detail: `chunk upload bodies are limited to ${limit} bytes` });
  }
  const { sessionId, compression } = await openSession(deps, token, cacheName, narHash);
  const reader = new ByteReader(body);
  const uploads = new ChunkUploads(deps, compression);
  const lease = new LeaseRefresher(deps, async () => {
    await refreshLeases(deps.db, { chunks: uploads.leased() });
    await touchChunkSession(deps.db, sessionId);
  });
  const received: string[] = [];
  try {
    let total = 0;
    for (;;) {
      const header = await reader.readExact(CHUNK_FRAME_HEADER_BYTES);
      if (!header) break;
      const length = header.readUInt32BE(0);
      if (length < 1 || length > offer.chunking.max_size) {
        throw requestError(`chunk of ${length} bytes (1 to ${offer.chunking.max_size} allowed)`);
      }
      total += CHUNK_FRAME_HEADER_BYTES + length;
      if (total > limit) {
        throw new AtticError("PayloadTooLarge", {
          detail: `chunk upload bodies are limited to ${limit} bytes`,
        });
      }
      const data = await reader.readExact(length);
      if (!data) throw requestError("the body ends inside a chunk");
      const hash = createHash("sha256").update(data).digest("hex");
      received.push(hash);
      await uploads.add(data, `sha256:${hash}`);
    }
    const stored = await uploads.finish();
    const held = uploads.held.splice(0);
    const chunkIdOf = new Map<string, number>();
    received.forEach((hash, i) => {
      const chunk = stored[i];
      if (!chunk) throw new Error("chunk upload lost a chunk");
      chunkIdOf.set(hash, chunk.chunkId);
    });
    const kept = await addSessionChunks(
      deps.db,
      sessionId,
      [...chunkIdOf].map(([hash, chunkId]) => ({ chunkHash: prefixed(hash), chunkId })),
    );
    // One lease per chunk the session took over now belongs to it; the rest go back.
    const owned = new Set(kept);
    const giveBack: number[] = [];
    for (const id of held) {
      if (owned.has(id)) owned.delete(id);
      else giveBack.push(id);
    }
    await releaseChunks(deps.db, giveBack);
  } finally {
    await lease.stop();
    await uploads.release();
  }
  return { received };
}

export type CommitOutcome =
  | { kind: "committed"; result: UploadPathResult }
  | { kind: "missing"; missing: string[] };

/**
 * Makes the NAR visible in the cache: every listed chunk must be present for the cache (else the
 * missing ones are named and nothing changes), and the chunks read back in order must decompress
 * to a valid NAR with the claimed hash and size.
 */
export async function commitChunkedNar(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  info: UploadPathNarInfo,
  hashes: readonly string[],
): Promise<CommitOutcome> {
  requireOffer(deps);
  if (info.cache !== cacheName) throw requestError("nar_info.cache does not match the cache in the path");
  const { narHashHex } = checkNarInfo(info);
  const narHash = narHashHex.slice("sha256:".length);
  const { cache, sessionId, compression } = await openSession(deps, token, cacheName, narHash);
  checkStoreDir(info.store_path, cache.storeDir);
  const leased = await leaseCommitChunks(deps.db, sessionId, cache.id, compression, hashes.map(prefixed));
  try {
    const missing = [...new Set(hashes)].filter((h) => !leased.has(prefixed(h)));
    if (missing.length > 0) return { kind: "missing", missing };
    const ordered = hashes.map((h) => leased.get(prefixed(h)) as CommitChunk);
    const listedSize = ordered.reduce((s, c) => s + c.chunkSize, 0);
    if (listedSize !== info.nar_size) throw requestError("Bad NAR Hash or Size");

    const started = performance.now();
    await verifyAssembledNar(deps, ordered, compression, narHashHex, info.nar_size);
    deps.log.info("chunk upload: commit verified the assembled NAR", {
      narSize: info.nar_size,
      chunks: ordered.length,
      verifyMs: Math.round(performance.now() - started),
    });

    await deps.db.transaction(async (tx) => {
      const nar = await insertNar(tx, {
        state: "V",
        narHash: narHashHex,
        narSize: info.nar_size,
        compression,
        numChunks: ordered.length,
      });
      await linkChunks(
        tx,
        nar.id,
        ordered.map((c, seq) => ({ seq, chunkId: c.id })),
      );
      await upsertObject(tx, objectInput(cache.id, nar.id, info, token?.sub ?? null));
    });
    const sessionLeases = await closeChunkSession(deps.db, sessionId);
    await releaseChunks(deps.db, sessionLeases).catch((err: unknown) =>
      deps.log.warn("failed to release chunk-upload session leases", { err, chunks: sessionLeases.length }),
    );
    const fileSize = [...new Map(ordered.map((c) => [c.id, c.fileSize ?? 0])).values()].reduce(
      (s, n) => s + n,
      0,
    );
    return { kind: "committed", result: { kind: "Uploaded", file_size: fileSize, frac_deduplicated: null } };
  } finally {
    const ids = [...leased.values()].map((c) => c.id);
    await releaseChunks(deps.db, ids).catch((err: unknown) =>
      deps.log.warn("failed to release commit leases", { err, chunks: ids.length }),
    );
  }
}

/** Reads the chunks back from storage, decompresses them and checks the NAR they form. */
async function verifyAssembledNar(
  deps: Deps,
  chunks: CommitChunk[],
  compression: string,
  narHashHex: string,
  narSize: number,
): Promise<void> {
  const check = new NarCheck({ narHash: narHashHex, narSize }, undefined, true);
  const sink = new Writable({
    write(piece: Buffer, _enc, cb) {
      try {
        check.update(piece);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  await pipeline(
    Readable.from(readStoredChunks(deps.storage, chunks, deps.settings.downloadPrefetch)),
    createDecompressStream(compression),
    sink,
  );
  check.finish();
}
