/**
 * Piscina worker for `createChunkCompressor`: compresses one chunk per task into one independent
 * stream (zstd frame, brotli stream, xz stream). xz has no binding in Node, so it runs the `xz`
 * program synchronously, which blocks only this worker.
 *
 * Two batch tasks serve the ingest pipeline, so that a NAR costs the main thread a few messages
 * per megabytes instead of one per chunk: `cutSegment` (FastCDC cut points and the SHA-256 of
 * every chunk in a segment of a NAR) and `compressRanges` (several chunks of a segment compressed,
 * with the SHA-256 of each compressed file). Segments live in a SharedArrayBuffer the main thread
 * filled, so they are read here without a copy and stay usable there.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { brotliCompressSync, constants, zstdCompressSync } from "node:zlib";
import { move } from "piscina";
import { ZSTD_OUTPUT_CHUNK } from "./compression-type.ts";
import { type ChunkingParams, FastCdcChunker } from "./fastcdc.ts";
import { freeNow, spansWholeBuffer } from "./owned-buffer.ts";
import { lowerThisThreadPriority } from "./thread-priority.ts";

// This worker's CPU goes to uploads; the event loop that serves requests comes first.
lowerThisThreadPriority();

export interface CompressTask {
  type: "zstd" | "brotli" | "xz";
  level: number;
  data: Uint8Array;
}

function zstdCompress(data: Uint8Array, level: number): Uint8Array {
  return zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    // The frame header records the size, as ZSTD_compress2 does.
    pledgedSrcSize: data.length,
    chunkSize: ZSTD_OUTPUT_CHUNK,
  });
}

function xzCompress(data: Uint8Array, level: number): Uint8Array {
  const result = spawnSync("xz", ["--compress", "--stdout", `-${level}`, "--threads=1"], {
    input: data,
    maxBuffer: 2 * data.length + 65_536,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`xz exited with ${result.status ?? result.signal}: ${result.stderr.toString().trim()}`);
  }
  return result.stdout;
}

function compressWith(task: CompressTask): Uint8Array {
  switch (task.type) {
    case "zstd":
      return zstdCompress(task.data, task.level);
    case "brotli":
      return brotliCompressSync(task.data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: task.level,
          [constants.BROTLI_PARAM_SIZE_HINT]: task.data.length,
        },
      });
    case "xz":
      return xzCompress(task.data, task.level);
  }
}

/** Task entry point (`name: "compressChunk"`); the result's buffer is transferred, not copied. */
export function compressChunk(task: CompressTask): unknown {
  const out = compressWith(task);
  // Small Buffers live in a shared pool and big ones may be oversized: only an exactly sized
  // ArrayBuffer may be transferred.
  if (spansWholeBuffer(out)) return move(out);
  const exact = new Uint8Array(out);
  // Copied out: a single zstd output step is a view into its own 128 KiB output buffer, which
  // would otherwise stay until this worker's next GC (tens of MB under concurrent uploads).
  freeNow(out);
  return move(exact);
}

export interface CutTask {
  /** A segment of a NAR that starts at a chunk boundary. */
  segment: Uint8Array;
  params: ChunkingParams;
  /** The NAR ends with this segment. */
  final: boolean;
}

export interface CutResult {
  /** End offset of every complete chunk (see `FastCdcChunker.cutPoints`). */
  cuts: number[];
  /** `sha256:<hex>` of each of those chunks. */
  hashes: string[];
}

let chunker: { key: string; chunker: FastCdcChunker } | undefined;

/** Task entry point (`name: "cutSegment"`). */
export function cutSegment(task: CutTask): CutResult {
  const key = `${task.params.minSize}/${task.params.avgSize}/${task.params.maxSize}`;
  if (chunker?.key !== key) chunker = { key, chunker: new FastCdcChunker(task.params) };
  const cuts = chunker.chunker.cutPoints(task.segment, task.final);
  const hashes: string[] = [];
  let start = 0;
  for (const cut of cuts) {
    hashes.push(`sha256:${createHash("sha256").update(task.segment.subarray(start, cut)).digest("hex")}`);
    start = cut;
  }
  return { cuts, hashes };
}

export interface CompressRangesTask {
  type: CompressTask["type"];
  level: number;
  source: Uint8Array;
  /** [start, end) of each chunk in `source`. */
  ranges: Array<[number, number]>;
  /**
   * Where to write the compressed chunks (a view of a SharedArrayBuffer the caller reuses); when
   * they do not fit, or it is absent, they go to a new SharedArrayBuffer.
   */
  out?: Uint8Array;
}

export interface CompressRangesResult {
  /** Every compressed chunk, one after the other, in `out` or a new SharedArrayBuffer (shared, not copied). */
  files: Uint8Array;
  /** Compressed size of each chunk. */
  sizes: number[];
  /** `sha256:<hex>` of each compressed chunk. */
  fileHashes: string[];
}

/** Task entry point (`name: "compressRanges"`). */
export function compressRanges(task: CompressRangesTask): CompressRangesResult {
  const outs = task.ranges.map(([start, end]) =>
    compressWith({ type: task.type, level: task.level, data: task.source.subarray(start, end) }),
  );
  // Sizes are read before the outputs are freed: a freed (detached) output has length 0.
  const sizes = outs.map((out) => out.length);
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const files =
    task.out && total <= task.out.length
      ? task.out.subarray(0, total)
      : new Uint8Array(new SharedArrayBuffer(total));
  const fileHashes: string[] = [];
  let off = 0;
  for (const out of outs) {
    files.set(out, off);
    off += out.length;
    fileHashes.push(`sha256:${createHash("sha256").update(out).digest("hex")}`);
    freeNow(out); // copied into `files` (see compressChunk)
  }
  return { files, sizes, fileHashes };
}
