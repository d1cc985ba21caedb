/**
 * Chunk compression on a worker-thread pool, so compressing never stalls the event loop. Every call
 * yields one independent stream (zstd frame, brotli stream, xz stream): a NAR's compressed chunks
 * concatenate into a single valid stream of the same type, which is how attic serves them.
 */
import { createHash } from "node:crypto";
import { type CompressionType, resolveCompressionLevel } from "./compression-type.ts";
import type {
  CompressRangesResult as CompressRangesOutput,
  CompressRangesTask,
  CompressTask,
  CutResult,
  CutTask,
} from "./compression-worker.ts";
import type { ChunkingParams } from "./fastcdc.ts";
import { createWorkerPool, type WorkerPool } from "./worker-pool.ts";

export type { CutResult };

export interface CompressRangesResult {
  /** Each compressed chunk, in the order of the ranges (views of shared buffers). */
  files: Uint8Array[];
  /** `sha256:<hex>` of each compressed chunk. */
  fileHashes: string[];
}

/** Groups of consecutive ranges of about equal bytes, at most `parts` of them. */
export function splitRanges(ranges: Array<[number, number]>, parts: number): Array<Array<[number, number]>> {
  const total = ranges.reduce((sum, [start, end]) => sum + end - start, 0);
  const target = Math.max(1, total / Math.max(1, Math.min(parts, ranges.length)));
  const groups: Array<Array<[number, number]>> = [];
  let group: Array<[number, number]> = [];
  let bytes = 0;
  for (const range of ranges) {
    group.push(range);
    bytes += range[1] - range[0];
    if (bytes >= target && groups.length < parts - 1) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

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
   * Compresses the chunks at `ranges` of `source` (a view of a SharedArrayBuffer) on the workers,
   * with the SHA-256 of each compressed file. With `out` (a view of a SharedArrayBuffer the caller
   * reuses), the files are written there when they fit (each worker into its share, in proportion
   * to its input bytes); `files` are then views of `out`, valid until the caller reuses it.
   */
  compressRanges(
    source: Uint8Array,
    ranges: Array<[number, number]>,
    out?: Uint8Array,
  ): Promise<CompressRangesResult>;
  /** Refuses further work; waits for queued work and stops the workers when the pool is its own. */
  close(): Promise<void>;
}

export interface ChunkCompressorOptions {
  type: CompressionType;
  /** Codec level; attic's default when absent, clamped to the codec's range. */
  level?: number;
  /** The worker pool to run on (garretd's, shared); the compressor's own when absent. */
  pool?: WorkerPool;
  /** Worker threads of its own pool; defaults to the number of CPUs. */
  threads?: number;
}

const WORKER_URL = new URL("./compression-worker.ts", import.meta.url).href;

export function createChunkCompressor(options: ChunkCompressorOptions): ChunkCompressor {
  const { type } = options;
  const level = resolveCompressionLevel(type, options.level);
  const pool = options.pool ?? createWorkerPool({ threads: options.threads });
  const { threads } = pool;
  let closed = false;
  const run = async (task: unknown, name: string): Promise<unknown> => {
    if (closed) throw new Error("chunk compressor is closed");
    return pool.run(task, { filename: WORKER_URL, name });
  };
  return {
    type,
    cutSegment: (segment, params, final) =>
      run({ segment, params, final } satisfies CutTask, "cutSegment") as Promise<CutResult>,
    async compressRanges(source, ranges, out) {
      if (type === "none") return storedRanges(source, ranges);
      // A batch's chunks are spread over the workers, so one upload alone uses every core.
      const groups = splitRanges(ranges, threads);
      const shares = out ? outputShares(out, groups) : [];
      const results = await Promise.all(
        groups.map(
          (group, i) =>
            run(
              { type, level, source, ranges: group, out: shares[i] } satisfies CompressRangesTask,
              "compressRanges",
            ) as Promise<CompressRangesOutput>,
        ),
      );
      const files: Uint8Array[] = [];
      const fileHashes: string[] = [];
      for (const r of results) {
        let off = 0;
        for (const [i, size] of r.sizes.entries()) {
          files.push(r.files.subarray(off, off + size));
          off += size;
          fileHashes.push(r.fileHashes[i] as string);
        }
      }
      return { files, fileHashes };
    },
    async compress(data) {
      if (closed) throw new Error("chunk compressor is closed");
      if (type === "none") return data;
      // One copy into an exactly sized buffer that is then moved: cloning a view would copy its
      // whole backing ArrayBuffer, and transferring the caller's buffer would detach it. (Not
      // `data.slice()`: on a Buffer that is a view.)
      const input = new Uint8Array(data);
      const task: CompressTask = { type, level, data: input };
      return (await pool.run(task, {
        filename: WORKER_URL,
        name: "compressChunk",
        transferList: [input.buffer],
      })) as Uint8Array;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!options.pool) await pool.close();
    },
  };
}

/** `out` cut into one consecutive share per group, sized in proportion to the group's input bytes. */
function outputShares(out: Uint8Array, groups: Array<Array<[number, number]>>): Uint8Array[] {
  const bytes = groups.map((g) => g.reduce((sum, [start, end]) => sum + end - start, 0));
  const total = bytes.reduce((sum, b) => sum + b, 0);
  const shares: Uint8Array[] = [];
  let start = 0;
  for (const b of bytes) {
    const end = total === 0 ? start : Math.min(out.length, start + Math.floor((out.length * b) / total));
    shares.push(out.subarray(start, end));
    start = end;
  }
  return shares;
}

/** `compressRanges` without compression: the chunks as they are. */
function storedRanges(source: Uint8Array, ranges: Array<[number, number]>): CompressRangesResult {
  const files = ranges.map(([start, end]) => source.subarray(start, end));
  return { files, fileHashes: files.map((f) => `sha256:${createHash("sha256").update(f).digest("hex")}`) };
}
