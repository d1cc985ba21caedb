/**
 * Chunk compression on a worker-thread pool, so compressing never stalls the event loop. Every call
 * yields one independent stream (zstd frame, brotli stream, xz stream): a NAR's compressed chunks
 * concatenate into a single valid stream of the same type, which is how attic serves them.
 */
import { availableParallelism } from "node:os";
import type { Piscina } from "piscina";
import { type CompressionType, resolveCompressionLevel } from "./compression-type.ts";
import type {
  CompressRangesResult,
  CompressRangesTask,
  CompressTask,
  CutResult,
  CutTask,
} from "./compression-worker.ts";
import type { ChunkingParams } from "./fastcdc.ts";

export type { CompressRangesResult, CutResult };

export interface ChunkCompressor {
  readonly type: CompressionType;
  /** Compresses one chunk. The input is left untouched and still belongs to the caller. */
  compress(data: Uint8Array): Promise<Uint8Array>;
  /**
   * FastCDC cut points and chunk hashes of a NAR segment that starts at a chunk boundary, on a
   * worker. `segment` must be a view of a SharedArrayBuffer (read there, not copied).
   */
  cutSegment(segment: Uint8Array, params: ChunkingParams, final: boolean): Promise<CutResult>;
  /**
   * Compresses the chunks at `ranges` of `source` (a view of a SharedArrayBuffer) on one worker,
   * with the SHA-256 of each compressed file.
   */
  compressRanges(source: Uint8Array, ranges: Array<[number, number]>): Promise<CompressRangesResult>;
  /** Waits for queued work, then stops the workers. */
  close(): Promise<void>;
}

export interface ChunkCompressorOptions {
  type: CompressionType;
  /** Codec level; attic's default when absent, clamped to the codec's range. */
  level?: number;
  /** Worker threads; defaults to the number of CPUs. */
  threads?: number;
}

const WORKER_URL = new URL("./compression-worker.ts", import.meta.url);

export function createChunkCompressor(options: ChunkCompressorOptions): ChunkCompressor {
  const { type } = options;
  const level = resolveCompressionLevel(type, options.level);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new RangeError(`threads must be >= 1, got ${threads}`);
  // The pool (and piscina itself) starts with the first chunk, so an idle server has no worker
  // thread; workers idle for 30 s stop again.
  let pool: Promise<Piscina> | undefined;
  const startPool = async (): Promise<Piscina> => {
    const { Piscina } = await import("piscina");
    return new Piscina({
      filename: WORKER_URL.href,
      name: "compressChunk",
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 30_000,
    });
  };
  let closed = false;
  const run = async (task: unknown, name: string): Promise<unknown> => {
    if (closed) throw new Error("chunk compressor is closed");
    pool ??= startPool();
    return (await pool).run(task, { name });
  };
  return {
    type,
    cutSegment: (segment, params, final) =>
      run({ segment, params, final } satisfies CutTask, "cutSegment") as Promise<CutResult>,
    async compressRanges(source, ranges) {
      if (type === "none") return storedRanges(source, ranges);
      const task: CompressRangesTask = { type, level, source, ranges };
      return (await run(task, "compressRanges")) as CompressRangesResult;
    },
    async compress(data) {
      if (closed) throw new Error("chunk compressor is closed");
      if (type === "none") return data;
      // One copy into an exactly sized buffer that is then moved: cloning a view would copy its
      // whole backing ArrayBuffer, and transferring the caller's buffer would detach it. (Not
      // `data.slice()`: on a Buffer that is a view.)
      const input = new Uint8Array(data);
      const task: CompressTask = { type, level, data: input };
      pool ??= startPool();
      return (await (await pool).run(task, { transferList: [input.buffer] })) as Uint8Array;
    },
    async close() {
      if (closed) return;
      closed = true;
      await (await pool)?.close();
    },
  };
}

/** `compressRanges` without compression: the chunks copied out as they are. */
async function storedRanges(
  source: Uint8Array,
  ranges: Array<[number, number]>,
): Promise<CompressRangesResult> {
  const { createHash } = await import("node:crypto");
  const total = ranges.reduce((sum, [start, end]) => sum + end - start, 0);
  const files = new Uint8Array(total);
  let off = 0;
  const fileHashes = ranges.map(([start, end]) => {
    const piece = source.subarray(start, end);
    files.set(piece, off);
    off += piece.length;
    return `sha256:${createHash("sha256").update(piece).digest("hex")}`;
  });
  return { files, sizes: ranges.map(([start, end]) => end - start), fileHashes };
}
