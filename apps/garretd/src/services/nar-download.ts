/**
 * `GET /{cache}/nar/{hash}.nar`: the stored compressed chunks of the object's NAR, concatenated in
 * order; each chunk is an independent compressed stream, so Nix decompresses the body as one.
 *
 * Fails closed (attic #101): every chunk must exist in storage before a 200 is sent; a missing
 * one is a 503 `IncompleteNar` before any header, so Nix falls back to another substituter
 * instead of importing a truncated NAR. Chunks are fetched ahead, in parallel, while streaming.
 * A miss in a cache with upstreams is fetched through pull-through (upstream/pull-through.ts).
 */
import type { Readable } from "node:stream";
import { findChunksForDownload, type ServableChunk } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import { parseRemoteFile } from "@garret/storage";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { SERVABLE_COMPRESSIONS } from "./narinfo.ts";

export type NarDownload =
  | { kind: "redirect"; url: string; isPublic: boolean }
  | { kind: "stream"; body: () => AsyncGenerator<Uint8Array>; isPublic: boolean; compression: string };

/** Chunks above this size are streamed from storage instead of read whole (threshold-0 NARs). */
const BUFFERED_CHUNK_LIMIT = 8 * 1024 * 1024;
/** A batch read stops at this many bytes or chunks, whichever comes first. */
const BATCH_BYTES = 1024 * 1024;
const BATCH_MAX_CHUNKS = 256;
const BATCHES_IN_FLIGHT = 2;
const EXISTENCE_CHECK_CONCURRENCY = 32;

export async function getNarDownload(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  storePathHash: string,
  opts: { head: boolean; withCredentials: boolean },
): Promise<NarDownload> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["r"], { objectLookup: true });
  let entry = await deps.state.objects.load(deps.db, cache.id, storePathHash);
  if (!entry && deps.upstream) {
    const pulled = await deps.upstream.nar(cache, storePathHash, opts.head);
    if (pulled)
      return { kind: "stream", isPublic: cache.isPublic, compression: pulled.compression, body: pulled.body };
    entry = await deps.state.objects.load(deps.db, cache.id, storePathHash);
  }
  if (!entry) throw new AtticError("NoSuchObject", { canDiscover: true });
  const { object, nar } = entry.value;
  if (!SERVABLE_COMPRESSIONS.has(nar.compression)) {
    throw new AtticError("InvalidCompressionType", { detail: nar.compression });
  }
  const present = entry.chunks ?? (await servableChunks(deps, nar.id, nar.numChunks));
  deps.state.objects.keepChunks(entry, present);

  await ensureChunksExist(deps, present);
  deps.access.record(object.id);

  const [only] = present;
  // Redirect only requests that carried no credentials: curl (Nix's downloader) up to 8.11 can
  // send netrc credentials on to the redirect target, which both leaks the token to the storage
  // host and makes S3 refuse the presigned request ("only one auth mechanism allowed").
  if (
    only &&
    present.length === 1 &&
    deps.settings.s3Redirect &&
    deps.storage.kind === "s3" &&
    !opts.withCredentials
  ) {
    const url = await deps.storage.presign(parseRemoteFile(only.remoteFile), 600);
    if (url) return { kind: "redirect", url, isPublic: cache.isPublic };
  }
  const units = readUnits(deps.storage, present);
  // Batches are large; chunk-by-chunk reads need more of them in flight to hide their latency.
  const prefetch = units.some((u) => u.length > 1) ? BATCHES_IN_FLIGHT : deps.settings.downloadPrefetch;
  // Storage that stopped answering must fail the request before the status line, even when the
  // existence check was skipped (verified recently): the first read is awaited here.
  const [firstUnit] = units;
  const first = opts.head || !firstUnit ? undefined : await readUnit(deps.storage, firstUnit);
  return {
    kind: "stream",
    isPublic: cache.isPublic,
    compression: nar.compression,
    body: () => (opts.head ? emptyBody() : streamUnits(deps.storage, units, prefetch, first)),
  };
}

/** The NAR's chunks, all of them valid, or IncompleteNar. */
async function servableChunks(deps: Deps, narId: number, numChunks: number): Promise<ServableChunk[]> {
  const chunks = await findChunksForDownload(deps.db, narId);
  if (chunks.length !== numChunks) {
    throw new Error(`NAR ${narId} has ${chunks.length} chunk references, expected ${numChunks}`);
  }
  const present = chunks.filter((c): c is ServableChunk => c !== null);
  if (present.length !== chunks.length) throw new AtticError("IncompleteNar");
  return present;
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** The stored (compressed) bytes of `chunks`, in order, read the way downloads read them. */
export function readStoredChunks(
  storage: StorageBackend,
  chunks: ServableChunk[],
  chunkPrefetch: number,
): AsyncGenerator<Uint8Array> {
  const units = readUnits(storage, chunks);
  return streamUnits(storage, units, units.some((u) => u.length > 1) ? BATCHES_IN_FLIGHT : chunkPrefetch);
}

async function ensureChunksExist(deps: Deps, chunks: ServableChunk[]): Promise<void> {
  const { storage } = deps;
  const seen = deps.state.presentChunks;
  const now = Date.now();
  const unverified = chunks.filter((c) => !seen.seen(c.id, now));
  let index = 0;
  let missing = false;
  const worker = async () => {
    while (!missing && index < unverified.length) {
      const chunk = unverified[index++] as ServableChunk;
      if (await storage.exists(parseRemoteFile(chunk.remoteFile))) {
        seen.note(chunk.id, now);
      } else {
        missing = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(EXISTENCE_CHECK_CONCURRENCY, unverified.length) }, worker));
  if (missing) throw new AtticError("IncompleteNar");
}

type ChunkData = Buffer | Readable;

/**
 * What one read fetches: consecutive small chunks together when the backend reads batches
 * (local storage: one worker round trip and one buffer per ~BATCH_BYTES), else one chunk.
 */
type ReadUnit = ServableChunk[];

function readUnits(storage: StorageBackend, chunks: ServableChunk[]): ReadUnit[] {
  if (!storage.readConcatenated) return chunks.map((c) => [c]);
  const units: ReadUnit[] = [];
  let batch: ServableChunk[] = [];
  let bytes = 0;
  const flush = () => {
    if (batch.length > 0) units.push(batch);
    batch = [];
    bytes = 0;
  };
  for (const chunk of chunks) {
    const size = chunk.fileSize;
    if (size === null || size > BUFFERED_CHUNK_LIMIT) {
      flush();
      units.push([chunk]);
      continue;
    }
    batch.push(chunk);
    bytes += size;
    if (bytes >= BATCH_BYTES || batch.length >= BATCH_MAX_CHUNKS) flush();
  }
  flush();
  return units;
}

function readUnit(storage: StorageBackend, unit: ReadUnit): Promise<ChunkData> {
  const [only] = unit;
  if (unit.length === 1 && only) {
    const file = parseRemoteFile(only.remoteFile);
    if ((only.fileSize ?? 0) > BUFFERED_CHUNK_LIMIT) return storage.get(file);
    if (only.fileSize === null || !storage.readConcatenated)
      return storage.getBuffer(file, only.fileSize ?? undefined);
  }
  return (storage.readConcatenated as NonNullable<StorageBackend["readConcatenated"]>)(
    unit.map((c) => parseRemoteFile(c.remoteFile)),
  );
}

/** Yields the units' contents in order, keeping up to `prefetch` reads in flight; `first` is unit 0, already read. */
async function* streamUnits(
  storage: StorageBackend,
  units: ReadUnit[],
  prefetch: number,
  first?: ChunkData,
): AsyncGenerator<Uint8Array> {
  type Pending = Promise<ChunkData>;
  const queue: Pending[] = first === undefined ? [] : [Promise.resolve(first)];
  let next = queue.length;
  const start = (): void => {
    const p: Pending = readUnit(storage, units[next++] as ReadUnit);
    p.catch(() => {});
    queue.push(p);
  };
  try {
    while (next < units.length && queue.length < Math.max(1, prefetch)) start();
    while (queue.length > 0) {
      const data = await (queue.shift() as Pending);
      if (next < units.length) start();
      if (Buffer.isBuffer(data)) {
        yield data;
      } else {
        for await (const piece of data) yield piece as Uint8Array;
      }
    }
  } finally {
    for (const p of queue) {
      p.then(
        (d) => (Buffer.isBuffer(d) ? undefined : d.destroy()),
        () => {},
      );
    }
  }
}
