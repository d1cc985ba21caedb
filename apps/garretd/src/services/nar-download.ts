/**
 * `GET /{cache}/nar/{hash}.nar`: the stored compressed chunks of the object's NAR, concatenated in
 * order; each chunk is an independent compressed stream, so Nix decompresses the body as one.
 *
 * Fails closed (attic #101): every chunk must exist in storage, with the size its row records,
 * before a 200 is sent; a missing or mis-sized one is a 503 `IncompleteNar` before any header, so
 * Nix falls back to another substituter instead of importing a truncated NAR. Every read is checked
 * against the recorded sizes again; a mismatch found after the status line cuts the connection
 * before the last byte, so the client sees a truncated chunked body, never a wrong NAR. A damaged
 * chunk is marked (markChunksDamaged) so that dedup stops reusing it and its NAR, and the next upload
 * of the same path stores a good copy. Chunks are fetched ahead, in parallel, while streaming.
 * A miss in a cache with upstreams is fetched through pull-through (upstream/pull-through.ts).
 */
import { Readable } from "node:stream";
import { findChunksForDownload, markChunksDamaged, type ServableChunk } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import { parseRemoteFile, type RemoteFile } from "@garret/storage";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import { SERVABLE_COMPRESSIONS } from "./narinfo.ts";
import type { PresentChunks } from "./process-state.ts";

/**
 * `recycle`: the response calls it with each piece of the body once the socket is done with it, so
 * storage may reuse the memory (StorageBackend.recycle).
 */
export type NarDownload =
  | { kind: "redirect"; url: string; isPublic: boolean }
  /** The whole body, already read (a NAR of one read unit: most of a closure's). */
  | { kind: "buffer"; data: Buffer; isPublic: boolean; compression: string; recycle?: Recycle }
  | {
      kind: "stream";
      body: () => AsyncGenerator<Uint8Array>;
      isPublic: boolean;
      compression: string;
      recycle?: Recycle;
    };

type Recycle = (piece: Uint8Array) => void;

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

  const chunkReader: ChunkReader = {
    storage: deps.storage,
    damaged: (chunks) => reportDamaged(deps, chunks),
  };
  await ensureChunksIntact(chunkReader, deps.state.presentChunks, present);
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
  const units = readUnitsOf(deps.storage, present);
  // Batches are large; chunk-by-chunk reads need more of them in flight to hide their latency.
  const prefetch = units.some((u) => u.chunks.length > 1)
    ? BATCHES_IN_FLIGHT
    : deps.settings.downloadPrefetch;
  // Storage that stopped answering must fail the request before the status line, even when the
  // existence check was skipped (verified recently): the first read is awaited here. A NAR of one
  // unit is that read whole, with nothing to overlap it: read on this thread if it is hot.
  const [firstUnit] = units;
  const first =
    opts.head || !firstUnit
      ? undefined
      : await readUnit(chunkReader, firstUnit, units.length === 1 && readRecently(firstUnit));
  const storage = deps.storage;
  const recycle = storage.recycle && ((piece: Uint8Array) => storage.recycle?.(piece));
  if (units.length === 1 && Buffer.isBuffer(first)) {
    return { kind: "buffer", data: first, isPublic: cache.isPublic, compression: nar.compression, recycle };
  }
  return {
    kind: "stream",
    isPublic: cache.isPublic,
    compression: nar.compression,
    recycle,
    body: () => (opts.head ? emptyBody() : streamUnits(chunkReader, units, prefetch, first)),
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

/**
 * The stored (compressed) bytes of `chunks`, in order, read the way downloads read them. A size
 * mismatch fails the read without marking anything (garretadm check reports it).
 */
export function readStoredChunks(
  storage: StorageBackend,
  chunks: ServableChunk[],
  chunkPrefetch: number,
): AsyncGenerator<Uint8Array> {
  const units = readUnits(storage, chunks);
  const reader: ChunkReader = { storage, damaged: async () => {} };
  return streamUnits(
    reader,
    units,
    units.some((u) => u.chunks.length > 1) ? BATCHES_IN_FLIGHT : chunkPrefetch,
  );
}

/** Storage, and what to do with chunks found damaged (mark them; the read then fails). */
interface ChunkReader {
  storage: StorageBackend;
  damaged(chunks: ServableChunk[]): Promise<void>;
}

async function reportDamaged(deps: Deps, chunks: ServableChunk[]): Promise<void> {
  for (const c of chunks) deps.state.presentChunks.forget(c.id);
  const marked = await markChunksDamaged(
    deps.db,
    chunks.map((c) => c.id),
  );
  // Kept chunk lists and narinfo rows must not keep serving the damaged NAR from memory.
  deps.state.objectsChanged();
  deps.log.warn("damaged chunks found on read: marked, the NAR is served again once re-uploaded", {
    chunks: chunks.map((c) => ({ id: c.id, file: c.remoteFileId, size: c.fileSize })),
    marked,
  });
}

/** Every chunk exists with its recorded size (a chunk seen recently is not checked again). */
async function ensureChunksIntact(
  reader: ChunkReader,
  seen: PresentChunks,
  chunks: ServableChunk[],
): Promise<void> {
  const now = Date.now();
  const unverified = chunks.filter((c) => !seen.seen(c.id, now));
  let index = 0;
  let missing = false;
  const damaged: ServableChunk[] = [];
  const worker = async () => {
    while (!missing && index < unverified.length) {
      const chunk = unverified[index++] as ServableChunk;
      const size = await reader.storage.sizeOf(parseRemoteFile(chunk.remoteFile));
      if (size === null) {
        missing = true;
      } else if (chunk.fileSize !== null && size !== chunk.fileSize) {
        damaged.push(chunk);
      } else {
        seen.note(chunk.id, now);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(EXISTENCE_CHECK_CONCURRENCY, unverified.length) }, worker));
  if (damaged.length > 0) await reader.damaged(damaged);
  if (missing || damaged.length > 0) throw new AtticError("IncompleteNar");
}

/** A read returned other than the recorded bytes: which of the unit's chunks are damaged. */
async function findDamaged(reader: ChunkReader, unit: ReadUnit): Promise<ServableChunk[]> {
  const sizes = await Promise.all(unit.files.map((f) => reader.storage.sizeOf(f)));
  const damaged = unit.chunks.filter((c, i) => c.fileSize !== null && sizes[i] !== c.fileSize);
  // The file changed between the read and the check: blame the whole unit rather than none.
  return damaged.length > 0 ? damaged : unit.chunks;
}

async function failDamaged(reader: ChunkReader, unit: ReadUnit): Promise<never> {
  await reader.damaged(await findDamaged(reader, unit));
  throw new AtticError("IncompleteNar");
}

/** The chunks' recorded size, or null when a row has none (atticd rows from before file_size). */
function expectedSize(chunks: ServableChunk[]): number | null {
  let total = 0;
  for (const c of chunks) {
    if (c.fileSize === null) return null;
    total += c.fileSize;
  }
  return total;
}

type ChunkData = Buffer | Readable;

/**
 * What one read fetches: consecutive small chunks together when the backend reads batches
 * (local storage: one buffer per ~BATCH_BYTES), else one chunk; with the chunks' parsed storage
 * locations and their recorded total size.
 */
interface ReadUnit {
  chunks: ServableChunk[];
  files: RemoteFile[];
  expected: number | null;
  /** When this plan's unit was last read whole (Date.now()), for `readRecently`. */
  readAt?: number;
}

/**
 * A unit read within this long is taken to be in the page cache, so it may be read on the main
 * thread (BatchReadOptions.inline) without blocking it on the disk. Only kept plans (narinfo memo)
 * remember their reads, so only NARs downloaded again soon qualify.
 */
const RECENT_READ_MS = 60_000;

function readRecently(unit: ReadUnit): boolean {
  return unit.readAt !== undefined && Date.now() - unit.readAt < RECENT_READ_MS;
}

/**
 * Read plans of chunk lists the narinfo memo keeps (object-memo.ts `keepChunks`), so a download of
 * a known path does not parse and group its chunks again. Keyed by the kept array itself: when the
 * memo forgets (objectsChanged, the change feed), the array and its plan go with it.
 */
const plans = new WeakMap<ServableChunk[], ReadUnit[]>();

function readUnitsOf(storage: StorageBackend, chunks: ServableChunk[]): ReadUnit[] {
  let units = plans.get(chunks);
  if (!units) {
    units = readUnits(storage, chunks);
    plans.set(chunks, units);
  }
  return units;
}

function readUnits(storage: StorageBackend, chunks: ServableChunk[]): ReadUnit[] {
  const unitOf = (batch: ServableChunk[]): ReadUnit => ({
    chunks: batch,
    files: batch.map((c) => parseRemoteFile(c.remoteFile)),
    expected: expectedSize(batch),
  });
  if (!storage.readConcatenated) return chunks.map((c) => unitOf([c]));
  const units: ReadUnit[] = [];
  let batch: ServableChunk[] = [];
  let bytes = 0;
  const flush = () => {
    if (batch.length > 0) units.push(unitOf(batch));
    batch = [];
    bytes = 0;
  };
  for (const chunk of chunks) {
    const size = chunk.fileSize;
    if (size === null || size > BUFFERED_CHUNK_LIMIT) {
      flush();
      units.push(unitOf([chunk]));
      continue;
    }
    batch.push(chunk);
    bytes += size;
    if (bytes >= BATCH_BYTES || batch.length >= BATCH_MAX_CHUNKS) flush();
  }
  flush();
  return units;
}

/**
 * Reads a unit; bytes other than the recorded size mark its damaged chunks and fail the read.
 * `inline`: read on the calling thread (BatchReadOptions), for a hot unit the response waits on alone.
 */
async function readUnit(reader: ChunkReader, unit: ReadUnit, inline = false): Promise<ChunkData> {
  const { storage } = reader;
  const { expected, files } = unit;
  const [only] = unit.chunks;
  const [onlyFile] = files;
  let data: Buffer;
  if (files.length === 1 && only && onlyFile && (only.fileSize ?? 0) > BUFFERED_CHUNK_LIMIT) {
    const stream = await storage.get(onlyFile);
    return expected === null ? stream : Readable.from(sizeChecked(reader, unit, stream, expected));
  }
  if (files.length === 1 && only && onlyFile && (only.fileSize === null || !storage.readConcatenated)) {
    data = await storage.getBuffer(onlyFile, only.fileSize ?? undefined);
  } else {
    data = await (storage.readConcatenated as NonNullable<StorageBackend["readConcatenated"]>)(
      files,
      expected ?? undefined,
      { inline },
    );
  }
  if (expected !== null && data.length !== expected) await failDamaged(reader, unit);
  unit.readAt = Date.now();
  return data;
}

/** Passes a streamed chunk through, failing as soon as it is longer than recorded, or at its end if shorter. */
async function* sizeChecked(
  reader: ChunkReader,
  unit: ReadUnit,
  stream: Readable,
  expected: number,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  try {
    for await (const piece of stream) {
      seen += (piece as Uint8Array).length;
      if (seen > expected) break;
      yield piece as Uint8Array;
    }
  } finally {
    stream.destroy();
  }
  if (seen !== expected) await failDamaged(reader, unit);
}

/** Yields the units' contents in order, keeping up to `prefetch` reads in flight; `first` is unit 0, already read. */
async function* streamUnits(
  reader: ChunkReader,
  units: ReadUnit[],
  prefetch: number,
  first?: ChunkData,
): AsyncGenerator<Uint8Array> {
  type Pending = Promise<ChunkData>;
  const queue: Pending[] = first === undefined ? [] : [Promise.resolve(first)];
  let next = queue.length;
  const start = (): void => {
    const p: Pending = readUnit(reader, units[next++] as ReadUnit);
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
