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
  type ChunkRow,
  deleteChunk,
  deleteChunks,
  findAndLockChunks,
  insertPendingChunk,
  insertPendingChunks,
  releaseChunks,
  validateChunk,
  validateChunks,
} from "@garret/db";
import { type RemoteFile, serializeRemoteFile } from "@garret/storage";
import type { Deps } from "../deps.ts";

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

/** Chunks per batch, and bytes per batch: one round of database statements covers a batch. */
const BATCH_CHUNKS = 64;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Batches in flight: one being read and cut from the client while others compress and store. */
const BATCHES_IN_FLIGHT = 2;

interface PendingBatch {
  data: Uint8Array[];
  bytes: number;
  firstSeq: number;
}

/**
 * The chunks of one NAR in sequence order, stored in batches: per batch, one statement leases the
 * chunks that already exist, one inserts the new ones as pending, one marks them valid after their
 * files are written. Compression of a batch's new chunks runs in the worker pool in parallel.
 * `add` waits while `BATCHES_IN_FLIGHT` batches are in progress, which is what slows reading from
 * the client down; memory stays bounded by that many batches. The first failure is raised by the
 * next `add` or by `finish`.
 */
export class ChunkUploads {
  readonly held: number[] = [];
  readonly stored: StoredChunk[] = [];
  private readonly tasks = new Set<Promise<void>>();
  private failure: unknown = null;
  private batch: PendingBatch = { data: [], bytes: 0, firstSeq: 0 };
  private readonly deps: Deps;
  private readonly compression: string;

  constructor(deps: Deps, compression: string) {
    this.deps = deps;
    this.compression = compression;
  }

  async add(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    this.batch.data.push(data);
    this.batch.bytes += data.length;
    if (this.batch.data.length >= BATCH_CHUNKS || this.batch.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Waits for every chunk; throws the first failure. */
  async finish(): Promise<StoredChunk[]> {
    await this.flush();
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

  private async flush(): Promise<void> {
    const batch = this.batch;
    if (batch.data.length === 0) return;
    this.batch = { data: [], bytes: 0, firstSeq: batch.firstSeq + batch.data.length };
    while (this.tasks.size >= BATCHES_IN_FLIGHT) await Promise.race(this.tasks);
    if (this.failure) throw this.failure;
    const task: Promise<void> = this.storeBatch(batch)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.tasks.delete(task));
    this.tasks.add(task);
  }

  private async storeBatch(batch: PendingBatch): Promise<void> {
    const deps = this.deps;
    const compression = this.compression;
    const hashes = batch.data.map((d) => `sha256:${createHash("sha256").update(d).digest("hex")}`);
    const existing = await findAndLockChunks(deps.db, hashes, compression);
    for (const c of existing.values()) this.held.push(c.id);

    // One new chunk per distinct missing hash; repeats inside the NAR reuse it.
    const fresh = new Map<string, { data: Uint8Array; name: string; id?: number; file?: Uint8Array }>();
    hashes.forEach((hash, i) => {
      if (!existing.has(hash) && !fresh.has(hash)) {
        fresh.set(hash, { data: batch.data[i] as Uint8Array, name: `${randomUUID()}.chunk` });
      }
    });
    if (fresh.size > 0) await this.storeFresh(fresh);

    const firstUse = new Set<string>();
    hashes.forEach((hash, i) => {
      const size = (batch.data[i] as Uint8Array).length;
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
      if (!made?.id || !made.file) throw new Error("chunk batch lost a chunk");
      const repeat = firstUse.has(hash);
      firstUse.add(hash);
      this.stored[batch.firstSeq + i] = {
        chunkId: made.id,
        size,
        fileSize: made.file.length,
        deduplicated: repeat,
      };
    });
  }

  /** Compresses, records as pending, writes and validates the batch's new chunks. */
  private async storeFresh(
    fresh: Map<string, { data: Uint8Array; name: string; id?: number; file?: Uint8Array }>,
  ): Promise<void> {
    const deps = this.deps;
    const compression = this.compression;
    const entries = [...fresh.entries()];
    const compressing = Promise.all(entries.map(([, c]) => deps.compressor.compress(c.data)));
    compressing.catch(() => {});
    const located = entries.map(([hash, c]) => {
      const { remoteFile, remoteFileId } = deps.storage.locate(c.name);
      return { hash, c, remoteFile, remoteFileId };
    });
    const ids = await insertPendingChunks(
      deps.db,
      located.map((l) => ({
        chunkHash: l.hash,
        chunkSize: l.c.data.length,
        compression,
        remoteFile: serializeRemoteFile(l.remoteFile),
        remoteFileId: l.remoteFileId,
      })),
    );
    located.forEach((l, i) => {
      l.c.id = ids[i];
    });
    try {
      const files = await compressing;
      let next = 0;
      const writer = async () => {
        while (next < located.length) {
          const i = next++;
          const l = located[i] as (typeof located)[number];
          l.c.file = files[i] as Uint8Array;
          await deps.storage.put(l.c.name, l.c.file);
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(deps.settings.uploadConcurrency, located.length) }, writer),
      );
      await validateChunks(
        deps.db,
        located.map((l) => ({
          id: l.c.id as number,
          fileHash: `sha256:${createHash("sha256")
            .update(l.c.file as Uint8Array)
            .digest("hex")}`,
          fileSize: (l.c.file as Uint8Array).length,
        })),
      );
      for (const l of located) this.held.push(l.c.id as number);
    } catch (err) {
      await Promise.all(located.map((l) => deps.storage.delete(l.remoteFile).catch(() => {})));
      await deleteChunks(deps.db, ids).catch(() => {});
      throw err;
    }
  }
}
