/**
 * Storing the chunks of one NAR, shared by both upload paths (the attic API and `nix copy --to`):
 * each chunk is deduplicated globally by hash and compression (a lease on the existing row), or
 * compressed off the main thread, written to storage and recorded as a chunk row (`P`, then `V`).
 *
 * Leases: every chunk this NAR uses, reused or new, is held (`holders_count + 1`) from the moment it
 * is found or written until the caller's chunkrefs are committed, so a concurrent GC cannot delete
 * it in between. `ChunkUploads.release()` gives them back; callers run it in `finally`.
 */
import { createHash, randomUUID } from "node:crypto";
import {
  type ChunkRow,
  deleteChunk,
  findAndLockChunk,
  insertPendingChunk,
  releaseChunks,
  validateChunk,
} from "@garret/db";
import { serializeRemoteFile } from "@garret/storage";
import type { Deps } from "../deps.ts";

export interface StoredChunk {
  chunkId: number;
  /** Uncompressed bytes. */
  size: number;
  /** Compressed bytes in storage. */
  fileSize: number;
  deduplicated: boolean;
}

/**
 * Stores one chunk, or reuses an identical one. Chunk hashes are computed here from the bytes, so
 * a reused chunk needs no proof. The chunk's id is pushed onto `held` as soon as this upload holds
 * a lease on it.
 */
export async function storeChunk(
  deps: Deps,
  data: Uint8Array,
  compression: string,
  held: number[],
): Promise<StoredChunk> {
  const chunkHash = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const existing = await findAndLockChunk(deps.db, chunkHash, compression);
  if (existing) {
    held.push(existing.id);
    return { chunkId: existing.id, size: data.length, fileSize: existing.fileSize ?? 0, deduplicated: true };
  }
  const compressed = await deps.compressor.compress(data);
  const row = await insertStoredChunk(deps, chunkHash, data.length, compression, async (name) => {
    await deps.storage.put(name, compressed);
    return {
      fileHash: `sha256:${createHash("sha256").update(compressed).digest("hex")}`,
      fileSize: compressed.length,
    };
  });
  held.push(row.id);
  return { chunkId: row.id, size: data.length, fileSize: compressed.length, deduplicated: false };
}

/**
 * Inserts a pending chunk row pointing at a fresh storage name, writes the data, then marks it valid
 * with one holder. A failure removes both the row and whatever was written.
 */
export async function insertStoredChunk(
  deps: Deps,
  chunkHash: string,
  chunkSize: number,
  compression: string,
  write: (name: string) => Promise<{ fileHash: string; fileSize: number }>,
): Promise<ChunkRow> {
  const name = `${randomUUID()}.chunk`;
  const { remoteFile, remoteFileId } = deps.storage.locate(name);
  const row = await insertPendingChunk(deps.db, {
    chunkHash,
    chunkSize,
    compression,
    remoteFile: serializeRemoteFile(remoteFile),
    remoteFileId,
  });
  try {
    const file = await write(name);
    await validateChunk(deps.db, row.id, file);
    return { ...row, state: "V", fileHash: file.fileHash, fileSize: file.fileSize, holdersCount: 1 };
  } catch (err) {
    await deps.storage.delete(remoteFile).catch(() => {});
    await deleteChunk(deps.db, row.id).catch(() => {});
    throw err;
  }
}

/**
 * The chunks of one NAR in sequence order, stored with at most `uploadConcurrency` in flight.
 * `add` waits while the limit is reached, which is what slows reading from the client down.
 * The first failure is raised by the next `add` or by `finish`.
 */
export class ChunkUploads {
  readonly held: number[] = [];
  readonly stored: StoredChunk[] = [];
  private readonly tasks = new Set<Promise<void>>();
  private failure: unknown = null;
  private seq = 0;

  constructor(
    private readonly deps: Deps,
    private readonly compression: string,
  ) {}

  async add(data: Uint8Array): Promise<void> {
    while (this.tasks.size >= this.deps.settings.uploadConcurrency) await Promise.race(this.tasks);
    if (this.failure) throw this.failure;
    const seq = this.seq++;
    const task: Promise<void> = storeChunk(this.deps, data, this.compression, this.held)
      .then((c) => {
        this.stored[seq] = c;
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.tasks.delete(task));
    this.tasks.add(task);
  }

  /** Waits for every chunk; throws the first failure. */
  async finish(): Promise<StoredChunk[]> {
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
}
