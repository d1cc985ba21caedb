/**
 * Storing the chunks of one NAR for the ingest pipeline (ingest-nar.ts): each chunk is deduplicated globally by hash and compression (a lease on the existing row), or
 * compressed off the main thread, written to storage and recorded as a chunk row (`P`, then `V`).
 *
 * Leases: every chunk this NAR uses, reused or new, is held (`holders_count + 1`) from the moment it
 * is found or written until the caller's chunkrefs are committed, so a concurrent GC cannot delete
 * it in between. `ChunkUploads.release()` gives them back; callers run it in `finally`.
 */
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createCompressStream } from "@garret/chunking";
import {
  abandonPendingChunk,
  type ChunkRow,
  deleteChunk,
  deleteChunks,
  findAndLockChunks,
  insertPendingChunk,
  insertPendingChunks,
  releaseChunks,
  reserveWholeChunk,
  validateChunk,
  validateChunks,
  type WholeChunk,
} from "@garret/db";
import { type RemoteFile, serializeRemoteFile } from "@garret/storage";
import type { Deps } from "../deps.ts";
import type { IngestLane } from "./ingest-memory.ts";

export interface StoredChunk {
  chunkId: number;
  /** Uncompressed bytes. */
  size: number;
  /** Compressed bytes in storage. */
  fileSize: number;
  deduplicated: boolean;
}

/** Stands for the content hash of a chunk row whose content is still streaming in. */
const UNKNOWN_CHUNK_HASH = "sha256:unknown";

/**
 * One chunk written as it streams (a whole NAR too large to buffer): a pending chunk row first,
 * so GC can reap what a crash leaves behind, then the data compressed on its way to storage, then
 * the row made valid with one holder, which `release()` gives back once the NAR is committed.
 * The content hash is known up front (a claimed NAR hash) or only at the end.
 */
export class WholeChunkWriter {
  private failure: unknown = null;
  private readonly deps: Deps;
  private readonly input: PassThrough;
  private readonly row: ChunkRow;
  private readonly remoteFile: RemoteFile;
  private readonly written: Promise<{ fileHash: string; fileSize: number }>;

  private constructor(
    deps: Deps,
    input: PassThrough,
    row: ChunkRow,
    remoteFile: RemoteFile,
    written: Promise<{ fileHash: string; fileSize: number }>,
  ) {
    this.deps = deps;
    this.input = input;
    this.row = row;
    this.remoteFile = remoteFile;
    this.written = written;
    written.catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  static async start(deps: Deps, compression: string, chunkHash: string | null): Promise<WholeChunkWriter> {
    const name = `${randomUUID()}.chunk`;
    const { remoteFile, remoteFileId } = deps.storage.locate(name);
    const row = await insertPendingChunk(deps.db, {
      chunkHash: chunkHash ?? UNKNOWN_CHUNK_HASH,
      chunkSize: 0,
      compression,
      remoteFile: serializeRemoteFile(remoteFile),
      remoteFileId,
    });
    const fileHash = createHash("sha256");
    let fileSize = 0;
    const count = new Transform({
      transform(piece: Buffer, _enc, cb) {
        fileHash.update(piece);
        fileSize += piece.length;
        cb(null, piece);
      },
    });
    const out = new PassThrough();
    const { type, level } = deps.settings.compression;
    const input = new PassThrough();
    const written = Promise.all([
      deps.storage.putStream(name, out),
      pipeline(input, createCompressStream(type, level), count, out),
    ]).then(() => ({ fileHash: `sha256:${fileHash.digest("hex")}`, fileSize }));
    return new WholeChunkWriter(deps, input, row, remoteFile, written);
  }

  /** The chunk row, pending until `finish`. */
  get chunkId(): number {
    return this.row.id;
  }

  async write(piece: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.input.write(piece)) {
      await Promise.race([once(this.input, "drain"), this.written]);
    }
    if (this.failure) throw this.failure;
  }

  /** Ends the stream and makes the chunk valid, holding one lease on it. */
  async finish(chunkHash: string, chunkSize: number): Promise<StoredChunk> {
    this.input.end();
    const file = await this.written;
    if (!(await validateChunk(this.deps.db, this.row.id, { ...file, chunkHash, chunkSize }))) {
      throw new Error(`pending chunk ${this.row.id} was reaped before its upload finished`);
    }
    return { chunkId: this.row.id, size: chunkSize, fileSize: file.fileSize, deduplicated: false };
  }

  /** Gives back the lease `finish` took (the NAR's chunk ref now holds the chunk). */
  async release(): Promise<void> {
    await releaseChunks(this.deps.db, [this.row.id]).catch((err: unknown) =>
      this.deps.log.warn("failed to release chunk lease", { err, chunkId: this.row.id }),
    );
  }

  /** Removes what was written: the row and the file. */
  async abort(): Promise<void> {
    if (!this.input.writableEnded) this.input.destroy(new Error("upload abandoned"));
    await this.written.catch(() => {});
    await this.deps.storage.delete(this.remoteFile).catch(() => {});
    await deleteChunk(this.deps.db, this.row.id).catch(() => {});
  }
}

/**
 * A buffered NAR kept whole: its bytes (SharedArrayBuffer-backed) to be compressed, or its size and
 * the file a sender already compressed it into in the chunk compression (checked by the caller to
 * decode to exactly those bytes), which is then stored as is.
 */
export type WholeNarContent = { bytes: Uint8Array } | { size: number; file: Uint8Array };

/**
 * The one chunk of a buffered NAR kept whole: a valid chunk with its hash is reused, or a pending
 * row is reserved, the bytes compressed on a worker (started before the reservation answers) unless
 * they came compressed, and written. Nothing is leased: the commit's transaction links it
 * (`linkWholeChunk`, whole-nars.ts), and until then a new chunk is a pending row that GC reaps only
 * once its `leased_at` is older than the grace period, which `pending` lets the upload's lease
 * refresher keep current.
 */
export class WholeNarChunk {
  /** The pending row while its file is written and until the commit, for lease refreshes. */
  pending: number | null = null;
  private stored: { link: WholeChunk; chunk: StoredChunk; remoteFile: RemoteFile | null } | null = null;
  private readonly deps: Deps;
  private readonly compression: string;

  constructor(deps: Deps, compression: string) {
    this.deps = deps;
    this.compression = compression;
  }

  /** Stores `content` as the chunk with hash `hash`, or finds it stored. */
  async store(content: WholeNarContent, hash: string): Promise<{ link: WholeChunk; chunk: StoredChunk }> {
    const { deps } = this;
    const name = `${randomUUID()}.chunk`;
    const { remoteFile, remoteFileId } = deps.storage.locate(name);
    const size = "bytes" in content ? content.bytes.length : content.size;
    const compressing =
      "bytes" in content
        ? deps.compressor.compressRanges(content.bytes, [[0, size]])
        : Promise.resolve({
            files: [content.file],
            fileHashes: [`sha256:${createHash("sha256").update(content.file).digest("hex")}`],
          });
    compressing.catch(() => {});
    const reserved = await reserveWholeChunk(deps.db, {
      chunkHash: hash,
      chunkSize: size,
      compression: this.compression,
      remoteFile: serializeRemoteFile(remoteFile),
      remoteFileId,
    });
    if (!reserved.fresh) {
      const chunk = {
        chunkId: reserved.id,
        size,
        fileSize: reserved.fileSize ?? 0,
        deduplicated: true,
      };
      this.stored = { link: { id: reserved.id, fresh: false }, chunk, remoteFile: null };
      return this.stored;
    }
    this.pending = reserved.id;
    this.stored = {
      link: { id: reserved.id, fresh: true, fileHash: "", fileSize: 0 },
      chunk: { chunkId: reserved.id, size, fileSize: 0, deduplicated: false },
      remoteFile,
    };
    const { files, fileHashes } = await compressing;
    const file = files[0] as Uint8Array;
    await deps.storage.put(name, file);
    this.stored.link = {
      id: reserved.id,
      fresh: true,
      fileHash: fileHashes[0] as string,
      fileSize: file.length,
    };
    this.stored.chunk.fileSize = file.length;
    return this.stored;
  }

  /**
   * The commit did not happen: a new chunk's row is tombstoned, then its file and row removed (what a
   * failure leaves half-way GC finishes). A reused chunk is left alone.
   */
  async discard(): Promise<void> {
    const stored = this.stored;
    this.stored = null;
    this.pending = null;
    if (!stored?.remoteFile) return;
    const { db, storage } = this.deps;
    const id = stored.link.id;
    if (!(await abandonPendingChunk(db, id).catch(() => false))) return;
    await storage.delete(stored.remoteFile);
    await deleteChunk(db, id);
  }

  /** The commit happened: the chunk is referenced and needs nothing more. */
  committed(): void {
    this.stored = null;
    this.pending = null;
  }
}

/** Chunks per batch, and bytes per batch: one round of database statements covers a batch. */
const BATCH_CHUNKS = 64;
const BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Batches in flight without a lane (the chunk-upload API): one being received while others
 * compress and store. With a lane, its output buffers set this (ingest-memory.ts).
 */
const UNPOOLED_BATCHES_IN_FLIGHT = 2;

/** Chunks in sequence order, as ranges of one SharedArrayBuffer-backed source. */
interface Batch {
  source: Uint8Array;
  ranges: Array<[number, number]>;
  hashes: string[];
  firstSeq: number;
  /** Called once the batch no longer reads `source`, whatever its outcome. */
  done?: () => void;
}

/** Chunks handed to `add` one by one, waiting to become a batch. */
interface LooseChunks {
  data: Uint8Array[];
  hashes: Array<string | undefined>;
  bytes: number;
}

/** A SharedArrayBuffer-backed copy of `parts`, one after the other (what the workers read). */
export function sharedConcat(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes));
  let off = 0;
  for (const part of parts) {
    out.set(part, off);
    off += part.length;
  }
  return out;
}

/**
 * The chunks of one NAR in sequence order, stored in batches: per batch, one statement leases the
 * chunks that already exist, one inserts the new ones as pending, one marks them valid after their
 * files are written. A batch is a segment already cut (`addSegment`: a worker found the cut points
 * and hashes) or chunks added one by one (`add`). Compression of a batch's new chunks, and the
 * SHA-256 of each compressed file, run on the workers.
 * `add`/`addSegment` wait while a lane's worth of batches (one per output buffer; without a lane
 * `UNPOOLED_BATCHES_IN_FLIGHT`) are in progress, which is what slows reading from the client down;
 * with a lane the compressed files are written into its output buffers, so memory stays within
 * the lane. The first failure is raised by the next `add` or by `finish`.
 */
export class ChunkUploads {
  readonly held: number[] = [];
  /** Rows of new chunks inserted as pending whose files are being written. */
  private readonly pending = new Set<number>();
  readonly stored: StoredChunk[] = [];
  private readonly tasks = new Set<Promise<void>>();
  private failure: unknown = null;
  private loose: LooseChunks = { data: [], hashes: [], bytes: 0 };
  private nextSeq = 0;
  private readonly deps: Deps;
  private readonly compression: string;
  private readonly lane: IngestLane | null;
  private readonly inFlight: number;

  constructor(deps: Deps, compression: string, lane: IngestLane | null = null) {
    this.deps = deps;
    this.compression = compression;
    this.lane = lane;
    this.inFlight = lane ? lane.shape.outputs : UNPOOLED_BATCHES_IN_FLIGHT;
  }

  /** One chunk; `hash` (`sha256:<hex>`) when the caller already knows it. */
  async add(data: Uint8Array, hash?: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.loose.data.push(data);
    this.loose.hashes.push(hash);
    this.loose.bytes += data.length;
    if (this.loose.data.length >= BATCH_CHUNKS || this.loose.bytes >= BATCH_BYTES) await this.flushLoose();
  }

  /**
   * The chunks of a segment (a SharedArrayBuffer-backed view) that end at `cuts`, with their
   * hashes, as `ChunkCompressor.cutSegment` returned them. `done` is called once nothing reads
   * `segment` any more (also when this throws).
   */
  async addSegment(
    segment: Uint8Array,
    cuts: readonly number[],
    hashes: string[],
    done: () => void = () => {},
  ): Promise<void> {
    try {
      if (this.failure) throw this.failure;
      await this.flushLoose();
    } catch (err) {
      done();
      throw err;
    }
    if (cuts.length === 0) {
      done();
      return;
    }
    const ranges: Array<[number, number]> = [];
    let start = 0;
    for (const cut of cuts) {
      ranges.push([start, cut]);
      start = cut;
    }
    await this.enqueue({ source: segment, ranges, hashes, firstSeq: this.take(cuts.length), done });
  }

  /** The rows this upload holds or is writing, for lease refreshes. */
  leased(): number[] {
    return [...this.held, ...this.pending];
  }

  /** Waits for every chunk; throws the first failure. */
  async finish(): Promise<StoredChunk[]> {
    await this.flushLoose();
    await Promise.all(this.tasks);
    if (this.failure) throw this.failure;
    return this.stored;
  }

  /** Waits for chunks still in flight (whatever their outcome), then gives back every lease. */
  async release(): Promise<void> {
    if (this.tasks.size > 0) await Promise.allSettled(this.tasks);
    if (this.held.length === 0) return;
    const ids = this.held.splice(0);
    await releaseChunks(this.deps.db, ids).catch((err: unknown) =>
      this.deps.log.warn("failed to release chunk leases", { err, chunks: ids.length }),
    );
  }

  private take(count: number): number {
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  private async flushLoose(): Promise<void> {
    const loose = this.loose;
    if (loose.data.length === 0) return;
    this.loose = { data: [], hashes: [], bytes: 0 };
    const only = loose.data.length === 1 ? (loose.data[0] as Uint8Array) : null;
    const source = only?.buffer instanceof SharedArrayBuffer ? only : sharedConcat(loose.data, loose.bytes);
    const ranges: Array<[number, number]> = [];
    let start = 0;
    for (const d of loose.data) {
      ranges.push([start, start + d.length]);
      start += d.length;
    }
    const hashes = loose.hashes.map(
      (h, i) =>
        h ??
        `sha256:${createHash("sha256")
          .update(loose.data[i] as Uint8Array)
          .digest("hex")}`,
    );
    await this.enqueue({ source, ranges, hashes, firstSeq: this.take(ranges.length) });
  }

  private async enqueue(batch: Batch): Promise<void> {
    try {
      while (this.tasks.size >= this.inFlight) await Promise.race(this.tasks);
      if (this.failure) throw this.failure;
    } catch (err) {
      batch.done?.();
      throw err;
    }
    const task: Promise<void> = this.storeBatch(batch)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.tasks.delete(task);
        batch.done?.();
      });
    this.tasks.add(task);
  }

  private async storeBatch(batch: Batch): Promise<void> {
    const { hashes } = batch;
    const existing = await findAndLockChunks(this.deps.db, hashes, this.compression);
    for (const c of existing.values()) this.held.push(c.id);

    // One new chunk per distinct missing hash; repeats inside the NAR reuse it.
    const fresh = new Map<string, FreshChunk>();
    hashes.forEach((hash, i) => {
      if (!existing.has(hash) && !fresh.has(hash)) {
        fresh.set(hash, { range: batch.ranges[i] as [number, number], name: `${randomUUID()}.chunk` });
      }
    });
    if (fresh.size > 0) await this.storeFresh(batch.source, fresh);

    const firstUse = new Set<string>();
    hashes.forEach((hash, i) => {
      const [start, end] = batch.ranges[i] as [number, number];
      const size = end - start;
      const reused = existing.get(hash);
      if (reused) {
        this.stored[batch.firstSeq + i] = {
          chunkId: reused.id,
          size,
          fileSize: reused.fileSize ?? 0,
          deduplicated: true,
        };
        return;
      }
      const made = fresh.get(hash);
      if (made?.id === undefined || made.fileSize === undefined) throw new Error("chunk batch lost a chunk");
      const repeat = firstUse.has(hash);
      firstUse.add(hash);
      this.stored[batch.firstSeq + i] = {
        chunkId: made.id,
        size,
        fileSize: made.fileSize,
        deduplicated: repeat,
      };
    });
  }

  /** Compresses, records as pending, writes and validates the batch's new chunks. */
  private async storeFresh(source: Uint8Array, fresh: Map<string, FreshChunk>): Promise<void> {
    const deps = this.deps;
    const entries = [...fresh.entries()];
    const out = this.lane ? await this.lane.outputs.take() : undefined;
    const compressing = deps.compressor.compressRanges(
      source,
      entries.map(([, c]) => c.range),
      out,
    );
    compressing.catch(() => {});
    try {
      await this.storeCompressed(entries, compressing);
    } finally {
      // The workers may still be writing into `out` when storing failed early.
      if (out && this.lane) {
        await compressing.catch(() => {});
        this.lane.outputs.give(out);
      }
    }
  }

  private async storeCompressed(
    entries: Array<[string, FreshChunk]>,
    compressing: Promise<{ files: Uint8Array[]; fileHashes: string[] }>,
  ): Promise<void> {
    const deps = this.deps;
    const compression = this.compression;
    const located = entries.map(([hash, c]) => {
      const { remoteFile, remoteFileId } = deps.storage.locate(c.name);
      return { hash, c, remoteFile, remoteFileId };
    });
    const ids = await insertPendingChunks(
      deps.db,
      located.map((l) => ({
        chunkHash: l.hash,
        chunkSize: l.c.range[1] - l.c.range[0],
        compression,
        remoteFile: serializeRemoteFile(l.remoteFile),
        remoteFileId: l.remoteFileId,
      })),
    );
    located.forEach((l, i) => {
      l.c.id = ids[i];
    });
    for (const id of ids) this.pending.add(id);
    try {
      const { files, fileHashes } = await compressing;
      let next = 0;
      let failed = false;
      const writer = async () => {
        while (next < located.length && !failed) {
          const i = next++;
          const l = located[i] as (typeof located)[number];
          const file = files[i] as Uint8Array;
          l.c.fileSize = file.length;
          try {
            await deps.storage.put(l.c.name, file);
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      // Every write has ended before this returns: the files are views of buffers used again next.
      const writes = await Promise.allSettled(
        Array.from({ length: Math.min(deps.settings.uploadConcurrency, located.length) }, writer),
      );
      const rejected = writes.find((w) => w.status === "rejected");
      if (rejected) throw rejected.reason;
      await validateChunks(
        deps.db,
        located.map((l, i) => ({
          id: l.c.id as number,
          fileHash: fileHashes[i] as string,
          fileSize: l.c.fileSize as number,
        })),
      );
      for (const l of located) this.held.push(l.c.id as number);
    } catch (err) {
      await Promise.all(located.map((l) => deps.storage.delete(l.remoteFile).catch(() => {})));
      await deleteChunks(deps.db, ids).catch(() => {});
      throw err;
    } finally {
      for (const id of ids) this.pending.delete(id);
    }
  }
}

interface FreshChunk {
  range: [number, number];
  name: string;
  id?: number;
  fileSize?: number;
}
